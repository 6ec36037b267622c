import NIOCore

/// `$sent_http_NAME`: a header of the response head as maitred wrote it to the client. `name` is as the variable
/// writes it (lowercase, `_` for `-`). The first field with that name is used (nginx joins a few multi-valued
/// ones, such as Cache-Control; maitred gives the first of those too). The head is maitred's own output, but it
/// is read defensively: a line without a colon is skipped.
enum SentHeaders {
    static func appendValue(
        named name: String, in head: ByteBuffer, to out: inout LogBytes,
        _ write: (UnsafeRawBufferPointer, inout LogBytes) -> Void
    ) -> Bool {
        let wanted = Array(name.utf8)
        return head.withUnsafeReadableBytes { raw -> Bool in
            var index = 0
            // Skip the status line.
            while index < raw.count, raw[index] != UInt8(ascii: "\n") { index += 1 }
            index += 1
            while index < raw.count {
                let lineStart = index
                while index < raw.count, raw[index] != UInt8(ascii: "\n") { index += 1 }
                var lineEnd = index
                index += 1
                if lineEnd > lineStart, raw[lineEnd - 1] == UInt8(ascii: "\r") { lineEnd -= 1 }
                if lineEnd == lineStart { return false }  // the empty line: the head is over
                guard let colon = (lineStart..<lineEnd).first(where: { raw[$0] == UInt8(ascii: ":") }),
                    colon - lineStart == wanted.count
                else { continue }
                var matches = true
                for offset in 0..<wanted.count {
                    var byte = raw[lineStart + offset]
                    if byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z") { byte += 32 }
                    if byte == UInt8(ascii: "-") { byte = UInt8(ascii: "_") }
                    if byte != wanted[offset] {
                        matches = false
                        break
                    }
                }
                guard matches else { continue }
                var valueStart = colon + 1
                while valueStart < lineEnd, raw[valueStart] == UInt8(ascii: " ") || raw[valueStart] == UInt8(ascii: "\t") {
                    valueStart += 1
                }
                var valueEnd = lineEnd
                while valueEnd > valueStart, raw[valueEnd - 1] == UInt8(ascii: " ") || raw[valueEnd - 1] == UInt8(ascii: "\t") {
                    valueEnd -= 1
                }
                write(UnsafeRawBufferPointer(rebasing: raw[valueStart..<valueEnd]), &out)
                return true
            }
            return false
        }
    }
}
