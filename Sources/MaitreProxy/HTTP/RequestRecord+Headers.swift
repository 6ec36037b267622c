import NIOCore

extension RequestRecord {
    /// The values of the header fields `name` matches, read again from the head's bytes (the loop's parse target
    /// may hold another request by the time the access log asks). `name` is as `$http_NAME` writes it:
    /// lowercase, `_` standing for `-` (or `_`). Values are trimmed of surrounding spaces and tabs.
    func headerValues(named name: String) -> [String] {
        let wanted = Array(name.utf8)
        var values: [String] = []
        bytes.withUnsafeReadableBytes { raw in
            var lineStart = 0
            // Skip the request line.
            while lineStart < raw.count, raw[lineStart] != UInt8(ascii: "\n") { lineStart += 1 }
            lineStart += 1
            while lineStart < raw.count {
                var lineEnd = lineStart
                while lineEnd < raw.count, raw[lineEnd] != UInt8(ascii: "\n") { lineEnd += 1 }
                var colon = lineStart
                while colon < lineEnd, raw[colon] != UInt8(ascii: ":") { colon += 1 }
                if colon < lineEnd, colon - lineStart == wanted.count, Self.matches(raw, lineStart, wanted) {
                    var start = colon + 1
                    var end = lineEnd
                    if end > start, raw[end - 1] == UInt8(ascii: "\r") { end -= 1 }
                    while start < end, raw[start] == UInt8(ascii: " ") || raw[start] == UInt8(ascii: "\t") { start += 1 }
                    while end > start, raw[end - 1] == UInt8(ascii: " ") || raw[end - 1] == UInt8(ascii: "\t") { end -= 1 }
                    values.append(String(decoding: UnsafeRawBufferPointer(rebasing: raw[start..<end]), as: UTF8.self))
                }
                lineStart = lineEnd + 1
            }
        }
        return values
    }

    private static func matches(_ raw: UnsafeRawBufferPointer, _ start: Int, _ wanted: [UInt8]) -> Bool {
        for index in 0..<wanted.count {
            var byte = raw[start + index]
            if byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z") { byte += 32 }
            if byte == UInt8(ascii: "-") { byte = UInt8(ascii: "_") }
            if byte != wanted[index] { return false }
        }
        return true
    }
}
