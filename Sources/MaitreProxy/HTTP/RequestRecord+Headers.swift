#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import NIOCore

extension RequestRecord {
    /// The first value `name` matches, nil when there is none (no array made for the usual absent header).
    func firstHeaderValue(named name: String) -> String? {
        var first: String?
        forEachHeaderValue(named: name) { value in
            if first == nil { first = String(decoding: value, as: UTF8.self) }
        }
        return first
    }

    /// The values of the header fields `name` matches, read again from the head's bytes (the loop's parse target
    /// may hold another request by the time the access log asks). `name` is as `$http_NAME` writes it:
    /// lowercase, `_` standing for `-` (or `_`). Values are trimmed of surrounding spaces and tabs.
    func headerValues(named name: String) -> [String] {
        var values: [String] = []
        forEachHeaderValue(named: name) { values.append(String(decoding: $0, as: UTF8.self)) }
        return values
    }

    /// Appends the values `name` matches, joined by `separator`, each through `write`; false when there is none.
    func appendHeaderValues(
        named name: String, separator: StaticString, to out: inout [UInt8],
        _ write: (UnsafeRawBufferPointer, inout [UInt8]) -> Void
    ) -> Bool {
        var found = false
        forEachHeaderValue(named: name) { value in
            if found {
                separator.withUTF8Buffer { out.append(contentsOf: $0) }
            }
            found = true
            write(value, &out)
        }
        return found
    }

    /// `METHOD TARGET HTTP/1.x` (`$request`), method and target through `write`.
    func appendRequestLine(to out: inout [UInt8], _ write: (UnsafeRawBufferPointer, inout [UInt8]) -> Void) {
        bytes.withUnsafeReadableBytes { raw in
            var lineEnd = 0
            while lineEnd < raw.count, raw[lineEnd] != UInt8(ascii: "\r"), raw[lineEnd] != UInt8(ascii: "\n") { lineEnd += 1 }
            // The method and the target are the first two words of the request line.
            var firstSpace = 0
            while firstSpace < lineEnd, raw[firstSpace] != UInt8(ascii: " ") { firstSpace += 1 }
            guard firstSpace < lineEnd else { return }
            var targetEnd = firstSpace + 1
            while targetEnd < lineEnd, raw[targetEnd] != UInt8(ascii: " ") { targetEnd += 1 }
            write(UnsafeRawBufferPointer(rebasing: raw[0..<firstSpace]), &out)
            out.append(UInt8(ascii: " "))
            write(UnsafeRawBufferPointer(rebasing: raw[(firstSpace + 1)..<targetEnd]), &out)
        }
        out.append(contentsOf: Self.versionPrefix)
        out.append(UInt8(ascii: "0") + UInt8(truncatingIfNeeded: max(0, min(9, versionMinor))))
    }

    private static let versionPrefix: [UInt8] = Array(" HTTP/1.".utf8)

    private func forEachHeaderValue(named name: String, _ body: (UnsafeRawBufferPointer) -> Void) {
        var wanted = name
        wanted.withUTF8 { wanted in
            bytes.withUnsafeReadableBytes { raw in
                guard let base = raw.baseAddress else { return }
                // memchr finds each line's end: the same answer as a byte loop, a word at a time.
                func lineEnd(from start: Int) -> Int {
                    guard start < raw.count, let found = memchr(base + start, 0x0A, raw.count - start) else { return raw.count }
                    return base.distance(to: UnsafeRawPointer(found))
                }
                // Skip the request line.
                var lineStart = lineEnd(from: 0) + 1
                while lineStart < raw.count {
                    let lineEnd = lineEnd(from: lineStart)
                    if lineEnd - lineStart > wanted.count, raw[lineStart + wanted.count] == UInt8(ascii: ":"),
                        Self.matches(raw, lineStart, wanted)
                    {
                        var start = lineStart + wanted.count + 1
                        var end = lineEnd
                        if end > start, raw[end - 1] == UInt8(ascii: "\r") { end -= 1 }
                        while start < end, raw[start] == UInt8(ascii: " ") || raw[start] == UInt8(ascii: "\t") {
                            start += 1
                        }
                        while end > start, raw[end - 1] == UInt8(ascii: " ") || raw[end - 1] == UInt8(ascii: "\t") {
                            end -= 1
                        }
                        body(UnsafeRawBufferPointer(rebasing: raw[start..<end]))
                    }
                    lineStart = lineEnd + 1
                }
            }
        }
    }

    private static func matches(_ raw: UnsafeRawBufferPointer, _ start: Int, _ wanted: UnsafeBufferPointer<UInt8>) -> Bool {
        for index in 0..<wanted.count {
            var byte = raw[start + index]
            if byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z") { byte += 32 }
            if byte == UInt8(ascii: "-") { byte = UInt8(ascii: "_") }
            if byte != wanted[index] { return false }
        }
        return true
    }
}
