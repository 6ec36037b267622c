/// Domain names between their three forms: text as written in a config ("Www.Example.com."), labels (raw bytes,
/// at most 63 each) and wire form (length-prefixed labels, possibly compressed, RFC 1035 §4.1.4).
///
/// The text form is the presentation form of RFC 1035 §5.1: a label byte that is not printable ASCII, or is a dot
/// or a backslash, is written `\DDD` (decimal) or `\.` / `\\`. Decoding escapes instead of refusing such labels
/// because one odd name in a record must not cost the whole response: an escaped name simply matches no host the
/// resolver asks for.
enum DNSName {
    /// The wire form of a name may not exceed 255 bytes, the final root byte included (RFC 1035 §2.3.4).
    static let maxWireLength = 255
    static let maxLabelLength = 63
    /// At most this many compression pointers are followed in one name. The backwards rule in `decode` already
    /// bounds the work; this bounds it far below the message size too.
    static let maxPointerJumps = 127

    // MARK: Text to wire form and labels

    /// The uncompressed wire form of a text name, escapes resolved; nil when the name has an empty label (".",
    /// "a..b", ".a"), a label over 63 bytes, a wire form over 255 bytes (text over 253) or a malformed escape.
    /// One trailing dot is allowed. Case is kept.
    static func wire(fromText text: String) -> [UInt8]? {
        let utf8 = Array(text.utf8)
        var out: [UInt8] = [0]
        out.reserveCapacity(utf8.count + 2)
        var lengthAt = 0  // where the current label's length byte goes
        var i = 0
        while i < utf8.count {
            var byte = utf8[i]
            if byte == UInt8(ascii: ".") {
                guard out.count - lengthAt > 1 else { return nil }
                out[lengthAt] = UInt8(truncatingIfNeeded: out.count - lengthAt - 1)
                lengthAt = out.count
                out.append(0)
                i += 1
                continue
            }
            if byte == UInt8(ascii: "\\") {
                guard let (escaped, length) = unescape(utf8, at: i) else { return nil }
                byte = escaped
                i += length
            } else {
                i += 1
            }
            out.append(byte)
            // Stop at the first label or name too long: a huge string costs no more than a long name.
            guard out.count - lengthAt - 1 <= maxLabelLength, out.count <= maxWireLength else { return nil }
        }
        let lastLength = out.count - lengthAt - 1
        if lastLength > 0 {
            out[lengthAt] = UInt8(truncatingIfNeeded: lastLength)
            out.append(0)
        }
        // With a trailing dot, the length byte opened after it stays 0 and is the root byte.
        guard out.count > 1, out.count <= maxWireLength else { return nil }
        return out
    }

    /// The labels of a text name, as `wire(fromText:)` reads it.
    static func labels(fromText text: String) -> [[UInt8]]? {
        guard let wire = wire(fromText: text) else { return nil }
        var labels: [[UInt8]] = []
        var i = 0
        while i < wire.count && wire[i] != 0 {
            let end = i + 1 + Int(wire[i])
            labels.append(Array(wire[(i + 1)..<end]))
            i = end
        }
        return labels
    }

    /// The normalized presentation form of a text name (see `decode`), nil when it is not a valid name.
    static func normalizedText(_ text: String) -> String? {
        guard let wire = wire(fromText: text) else { return nil }
        return try? decode(wire, at: 0).name
    }

    /// The byte an escape at `i` (a backslash) stands for and the escape's length: `\DDD` (three decimal digits,
    /// at most 255) or `\X` for any other byte X. Nil when the text ends or the number is malformed.
    private static func unescape(_ utf8: [UInt8], at i: Int) -> (UInt8, Int)? {
        guard i + 1 < utf8.count else { return nil }
        guard isDigit(utf8[i + 1]) else { return (utf8[i + 1], 2) }
        guard i + 3 < utf8.count, isDigit(utf8[i + 2]), isDigit(utf8[i + 3]) else { return nil }
        let value = Int(utf8[i + 1] - 48) * 100 + Int(utf8[i + 2] - 48) * 10 + Int(utf8[i + 3] - 48)
        guard value <= 255 else { return nil }
        return (UInt8(value), 4)
    }

    private static func isDigit(_ byte: UInt8) -> Bool {
        byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")
    }

    // MARK: Wire form

    /// Appends the label at `range` of `bytes` in presentation form, lowercased. The output is printable ASCII
    /// only. (Plain comparisons, not range patterns: this runs for every byte of every name, in debug builds too.)
    static func appendEscaped(_ bytes: [UInt8], _ range: Range<Int>, to out: inout [UInt8]) {
        var i = range.lowerBound
        while i < range.upperBound {
            let byte = bytes[i]
            i += 1
            if byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z") {
                out.append(byte | 0x20)
            } else if byte == UInt8(ascii: ".") || byte == UInt8(ascii: "\\") {
                out.append(UInt8(ascii: "\\"))
                out.append(byte)
            } else if byte > 0x20 && byte < 0x7F {
                out.append(byte)
            } else {
                out.append(UInt8(ascii: "\\"))
                out.append(48 + byte / 100)
                out.append(48 + byte / 10 % 10)
                out.append(48 + byte % 10)
            }
        }
    }

    /// Appends the uncompressed wire form of `labels` (root byte included).
    static func appendWire(_ labels: [[UInt8]], to out: inout [UInt8]) {
        for label in labels {
            out.append(UInt8(truncatingIfNeeded: label.count))
            out.append(contentsOf: label)
        }
        out.append(0)
    }

    /// Decodes the possibly compressed name at `start` of a message: its presentation text (lowercased, "" for
    /// the root) and the offset just past the name's bytes at `start` (past the first pointer, if any).
    ///
    /// Every pointer must jump strictly below every byte read so far for this name. A real compressor only points
    /// at names written before the current one, so this refuses nothing legitimate, yet it makes the read
    /// positions strictly decrease at each jump: no loop (a self-pointer, or a pointer back to labels that lead to
    /// the same pointer) can run, and forward pointers are refused.
    static func decode(_ bytes: [UInt8], at start: Int) throws(DNSParseError) -> (name: String, end: Int) {
        var text: [UInt8] = []
        var position = start
        var lowestRead = start
        var end: Int?
        var wireLength = 1
        var jumps = 0
        while true {
            guard position < bytes.count else { throw .truncated(at: position) }
            let length = bytes[position]
            switch length & 0xC0 {
            case 0x00:
                if length == 0 {
                    return (String(decoding: text, as: UTF8.self), end ?? position + 1)
                }
                let labelStart = position + 1
                let labelEnd = labelStart + Int(length)
                guard labelEnd <= bytes.count else { throw .truncated(at: bytes.count) }
                wireLength += Int(length) + 1
                guard wireLength <= maxWireLength else { throw .nameTooLong(at: start) }
                if !text.isEmpty { text.append(UInt8(ascii: ".")) }
                appendEscaped(bytes, labelStart..<labelEnd, to: &text)
                position = labelEnd
            case 0xC0:
                guard position + 1 < bytes.count else { throw .truncated(at: bytes.count) }
                let target = Int(length & 0x3F) << 8 | Int(bytes[position + 1])
                if end == nil { end = position + 2 }
                guard target < lowestRead else { throw .badPointer(at: position, target: target) }
                jumps += 1
                guard jumps <= maxPointerJumps else { throw .tooManyPointers(at: start) }
                lowestRead = target
                position = target
            default:
                // 0x40 (extended label, RFC 6891 deprecated it) and 0x80 are reserved.
                throw .badLabelType(at: position)
            }
        }
    }
}

/// Name-suffix compression for message writers (RFC 1035 §4.1.4): a name, or its tail, that was written before is
/// replaced by a pointer to its first occurrence.
struct DNSNameCompressor {
    /// Whether to compress at all; false writes every name in full.
    var isEnabled: Bool
    /// Lowercased wire form of each suffix written so far, to its offset in the message.
    private var offsets: [[UInt8]: Int] = [:]

    init(isEnabled: Bool) {
        self.isEnabled = isEnabled
    }

    /// Appends `labels` to `out`, compressed against the names appended before.
    mutating func append(_ labels: [[UInt8]], to out: inout [UInt8]) {
        guard isEnabled else { return DNSName.appendWire(labels, to: &out) }
        for index in labels.indices {
            var suffix: [UInt8] = []
            DNSName.appendWire(Array(labels[index...]), to: &suffix)
            let key = suffix.map { $0 >= 0x41 && $0 <= 0x5A ? $0 | 0x20 : $0 }
            if let target = offsets[key] {
                out.append(0xC0 | UInt8(truncatingIfNeeded: target >> 8))
                out.append(UInt8(truncatingIfNeeded: target))
                return
            }
            // A pointer holds 14 bits: names further in cannot be pointed at.
            if out.count < 0x4000 { offsets[key] = out.count }
            out.append(UInt8(truncatingIfNeeded: labels[index].count))
            out.append(contentsOf: labels[index])
        }
        out.append(0)
    }
}
