/// Byte classes and list syntax shared by the request and response head parsers (RFC 9110 §5).
public enum FieldSyntax {
    /// Calls `body` with the bounds of each comma-separated token of a field value, spaces trimmed.
    public static func forEachToken(_ bytes: UnsafeRawBufferPointer, _ start: Int, _ end: Int, _ body: (Int, Int) -> Void) {
        var s = start
        while s < end {
            var e = s
            while e < end && bytes[e] != UInt8(ascii: ",") { e += 1 }
            let (a, b) = trimmingWhitespace(bytes, s, e)
            if b > a { body(a, b) }
            s = e + 1
        }
    }

    /// `start..<end` without leading and trailing spaces and tabs (RFC 9110 OWS).
    @inline(__always)
    public static func trimmingWhitespace(_ bytes: UnsafeRawBufferPointer, _ start: Int, _ end: Int) -> (Int, Int) {
        var a = start
        var b = end
        while a < b && (bytes[a] == UInt8(ascii: " ") || bytes[a] == UInt8(ascii: "\t")) { a += 1 }
        while b > a && (bytes[b - 1] == UInt8(ascii: " ") || bytes[b - 1] == UInt8(ascii: "\t")) { b -= 1 }
        return (a, b)
    }

    /// RFC 9110 tchar, as one bit per byte value below 0x80 (the parsers' innermost loop).
    @inline(__always)
    public static func isTokenByte(_ b: UInt8) -> Bool {
        inMask(b, low: 0x03FF_6CFA_0000_0000, high: 0x57FF_FFFF_C7FF_FFFE)
    }

    /// Letters, digits and `-`: the header-name bytes nginx accepts with its default settings.
    @inline(__always)
    public static func isPlainNameByte(_ b: UInt8) -> Bool {
        inMask(b, low: 0x03FF_2000_0000_0000, high: 0x07FF_FFFE_07FF_FFFE)
    }

    @inline(__always)
    private static func inMask(_ b: UInt8, low: UInt64, high: UInt64) -> Bool {
        switch b >> 6 {
        case 0: return (low >> UInt64(b)) & 1 != 0
        case 1: return (high >> UInt64(b & 63)) & 1 != 0
        default: return false
        }
    }

    /// field-vchar, SP and HTAB (obs-text allowed); no CR, LF, NUL or other controls.
    @inline(__always)
    public static func isFieldValueByte(_ b: UInt8) -> Bool {
        b == UInt8(ascii: "\t") || (b >= 0x20 && b != 0x7F)
    }

    /// Case-insensitive equality of two ranges of the same bytes.
    @inline(__always)
    public static func equalIgnoringCase(_ bytes: UnsafeRawBufferPointer, _ a: Int, _ b: Int, count: Int) -> Bool {
        var i = 0
        while i < count {
            if lowercased(bytes[a + i]) != lowercased(bytes[b + i]) { return false }
            i += 1
        }
        return true
    }

    @inline(__always)
    public static func lowercased(_ b: UInt8) -> UInt8 {
        b >= UInt8(ascii: "A") && b <= UInt8(ascii: "Z") ? b | 0x20 : b
    }

    /// True when a token of one of the `Connection` fields names `field` (RFC 9110 §7.6.1: then it is hop-by-hop).
    public static func isNamedInConnection(
        _ field: HeaderField, connectionFields: [Int], fields: [HeaderField], _ raw: UnsafeRawBufferPointer
    ) -> Bool {
        guard !connectionFields.isEmpty else { return false }
        let count = field.nameEnd - field.nameStart
        var named = false
        for index in connectionFields {
            let connection = fields[index]
            forEachToken(raw, connection.valueStart, connection.valueEnd) { s, e in
                if e - s == count, equalIgnoringCase(raw, s, field.nameStart, count: count) { named = true }
            }
        }
        return named
    }
}
