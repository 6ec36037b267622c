/// nginx's `ngx_http_validate_host` over raw bytes: what `$host` and server-name selection see of a Host value.
public enum HostName {
    /// The name part of a Host value (port and one trailing dot removed), or nil when nginx would refuse the
    /// value (400): empty, `..`, `/`, `\`, NUL, a control byte or a space.
    public static func validate(_ bytes: UnsafeRawBufferPointer, _ start: Int, _ end: Int) -> Range<Int>? {
        var nameEnd = end
        var lastDot = -2
        var inPort = false
        var inLiteral = false
        var i = start
        while i < end {
            let b = bytes[i]
            switch b {
            case UInt8(ascii: "."):
                if lastDot == i - 1 { return nil }
                lastDot = i
            case UInt8(ascii: ":"):
                if !inPort && !inLiteral {
                    nameEnd = i
                    inPort = true
                }
            case UInt8(ascii: "["):
                if i == start { inLiteral = true }
            case UInt8(ascii: "]"):
                if inLiteral {
                    nameEnd = i + 1
                    inLiteral = false
                    inPort = true
                }
            case UInt8(ascii: "/"), UInt8(ascii: "\\"), 0:
                return nil
            default:
                if b <= 0x20 || b == 0x7F { return nil }
            }
            i += 1
        }
        if lastDot == nameEnd - 1 { nameEnd -= 1 }
        return nameEnd > start ? start..<nameEnd : nil
    }
}
