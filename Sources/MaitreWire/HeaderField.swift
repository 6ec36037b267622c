/// One header line of a parsed head, as byte offsets into the head's bytes (no strings are made).
public struct HeaderField: Sendable, Equatable {
    public var nameStart: Int
    public var nameEnd: Int
    public var valueStart: Int
    public var valueEnd: Int

    public init(nameStart: Int, nameEnd: Int, valueStart: Int, valueEnd: Int) {
        self.nameStart = nameStart
        self.nameEnd = nameEnd
        self.valueStart = valueStart
        self.valueEnd = valueEnd
    }
}

extension UnsafeRawBufferPointer {
    /// Case-insensitive comparison of `range` with an ASCII lowercase literal.
    @inlinable
    public func equalsLowercased(_ start: Int, _ end: Int, _ lowercase: StaticString) -> Bool {
        guard end - start == lowercase.utf8CodeUnitCount else { return false }
        let literal = lowercase.utf8Start
        var i = 0
        while i < end - start {
            var byte = self[start + i]
            if byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z") { byte |= 0x20 }
            if byte != literal[i] { return false }
            i += 1
        }
        return true
    }
}
