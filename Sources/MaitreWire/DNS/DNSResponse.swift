/// Why a DNS message was refused. Offsets are byte positions in the message, for a log line that points at the
/// fault. Every byte of a response is hostile: the parser reports these instead of trapping.
public enum DNSParseError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The message ends before the header, a name, a record or RDATA it announces.
    case truncated(at: Int)
    /// The header announces a question count other than one. nginx refuses these too ("invalid number of
    /// questions"): without the question, the answer cannot be matched to what was asked.
    case questionCount(Int)
    /// A label length byte with the reserved 0x40 or 0x80 bits set.
    case badLabelType(at: Int)
    /// A compression pointer that does not jump strictly below the bytes of its name read so far: forward, to
    /// itself, or into a loop.
    case badPointer(at: Int, target: Int)
    /// A name that follows more than 127 compression pointers.
    case tooManyPointers(at: Int)
    /// A name whose wire form exceeds 255 bytes.
    case nameTooLong(at: Int)
    /// An answer whose RDLENGTH does not fit its type: A not 4 bytes, AAAA not 16, or an SRV or CNAME whose name
    /// does not end exactly at the end of its RDATA.
    case badRecordLength(type: UInt16, length: Int, at: Int)

    public var description: String {
        switch self {
        case .truncated(let offset): "DNS message truncated at byte \(offset)"
        case .questionCount(let count): "invalid number of questions (\(count)) in DNS message"
        case .badLabelType(let offset): "invalid label type in DNS name at byte \(offset)"
        case .badPointer(let offset, let target):
            "invalid compression pointer at byte \(offset) to byte \(target) (forward or looping)"
        case .tooManyPointers(let offset): "too many compression pointers in DNS name at byte \(offset)"
        case .nameTooLong(let offset): "DNS name longer than 255 bytes at byte \(offset)"
        case .badRecordLength(let type, let length, let offset):
            "invalid length \(length) of type \(type) record data at byte \(offset)"
        }
    }
}

/// The data of a resource record, for the types the resolver reads.
public enum DNSRecordData: Hashable, Sendable {
    case ipv4(UInt8, UInt8, UInt8, UInt8)
    /// The 16 bytes of an IPv6 address (the parser makes no other length).
    case ipv6([UInt8])
    case srv(priority: UInt16, weight: UInt16, port: UInt16, target: String)
    /// The canonical name (normalized) the record's owner is an alias of.
    case cname(String)
    /// A type this codec does not read, or a record of a class other than IN.
    case other
}

/// One resource record of a response.
public struct DNSRecord: Hashable, Sendable {
    /// The owner name; when parsed, normalized (lowercased, no trailing dot) with label bytes that are not
    /// printable ASCII, dots and backslashes escaped (`\DDD`, `\.`, `\\`) rather than refused.
    public var name: String
    /// The raw record type (see `DNSRecordType`).
    public var type: UInt16
    /// The raw class; 1 (IN) for every record whose data is read.
    public var recordClass: UInt16
    /// Seconds the record may be cached. A TTL with the top bit set reads as 0 (RFC 2181 §8, as nginx does).
    public var ttl: UInt32
    public var data: DNSRecordData

    public init(name: String, type: UInt16, recordClass: UInt16 = 1, ttl: UInt32, data: DNSRecordData) {
        self.name = name
        self.type = type
        self.recordClass = recordClass
        self.ttl = ttl
        self.data = data
    }

    /// A class IN record whose type follows from its data (0 for `.other`: use the full initializer to give one).
    public init(name: String, ttl: UInt32, data: DNSRecordData) {
        let type: DNSRecordType? =
            switch data {
            case .ipv4: .a
            case .ipv6: .aaaa
            case .srv: .srv
            case .cname: .cname
            case .other: nil
            }
        self.init(name: name, type: type?.rawValue ?? 0, ttl: ttl, data: data)
    }
}

/// A parsed DNS response: header flags, the question, the answer section and (best effort) the additional
/// section. The authority section is stepped over.
public struct DNSResponse: Hashable, Sendable {
    public var id: UInt16
    /// QR: set in responses. The parser does not insist; `matches(id:name:type:)` does.
    public var isResponse: Bool
    public var opcode: UInt8
    public var isAuthoritative: Bool
    /// TC: the answer did not fit the UDP message; its sections may be incomplete.
    public var isTruncated: Bool
    /// The response code: 0 NOERROR, 1 FORMERR, 2 SERVFAIL, 3 NXDOMAIN, 4 NOTIMP, 5 REFUSED (`ResponseCode`).
    public var rcode: UInt8
    /// The question's name, normalized and escaped as record names are.
    public var questionName: String
    /// The question's raw type.
    public var questionType: UInt16
    public var answers: [DNSRecord]
    /// The additional section's records that could be read. It is a hint (SRV responses carry their targets'
    /// addresses there), so it is read leniently: a record whose data does not fit its type is skipped, and a
    /// structural fault (bad name, truncation) ends the section, keeping the records read before it. nginx does
    /// not read the section at all.
    public var additionals: [DNSRecord]

    /// The response codes by name.
    public enum ResponseCode {
        public static let noError: UInt8 = 0
        public static let formatError: UInt8 = 1
        public static let serverFailure: UInt8 = 2
        public static let nameError: UInt8 = 3
        public static let notImplemented: UInt8 = 4
        public static let refused: UInt8 = 5
    }

    /// nginx's text for a response code (`ngx_resolver_strerror`), for log lines that read like nginx's.
    public static func errorText(rcode: UInt8) -> String {
        switch rcode {
        case ResponseCode.formatError: "Format error"
        case ResponseCode.serverFailure: "Server failure"
        case ResponseCode.nameError: "Host not found"
        case ResponseCode.notImplemented: "Unimplemented"
        case ResponseCode.refused: "Operation refused"
        default: "Unknown error"
        }
    }

    /// Parses a whole DNS message (a UDP datagram). Work is bounded by the message's size whatever its counts say:
    /// records are read one by one until the message ends, and names by the rules of `DNSParseError`.
    /// Bytes after the last announced record are ignored.
    public static func parse(_ bytes: [UInt8]) -> Result<DNSResponse, DNSParseError> {
        do {
            return .success(try read(bytes))
        } catch {
            return .failure(error)
        }
    }

    /// The smallest record: a root owner name, type, class, TTL and RDLENGTH, no data.
    private static let minimumRecordLength = 11

    private static func read(_ bytes: [UInt8]) throws(DNSParseError) -> DNSResponse {
        guard bytes.count >= 12 else { throw .truncated(at: bytes.count) }
        let flags = bytes.uint16(at: 2)
        let questionCount = bytes.uint16(at: 4)
        guard questionCount == 1 else { throw .questionCount(Int(questionCount)) }
        let (questionName, questionEnd) = try DNSName.decode(bytes, at: 12)
        guard questionEnd + 4 <= bytes.count else { throw .truncated(at: bytes.count) }
        var response = DNSResponse(
            id: bytes.uint16(at: 0),
            isResponse: flags & 0x8000 != 0,
            opcode: UInt8(truncatingIfNeeded: flags >> 11) & 0x0F,
            isAuthoritative: flags & 0x0400 != 0,
            isTruncated: flags & 0x0200 != 0,
            rcode: UInt8(truncatingIfNeeded: flags) & 0x0F,
            questionName: questionName,
            questionType: bytes.uint16(at: questionEnd),
            answers: [],
            additionals: []
        )
        var position = questionEnd + 4
        // The counts are the sender's word: never reserve more than the bytes left could hold.
        let answerCount = Int(bytes.uint16(at: 6))
        response.answers.reserveCapacity(min(answerCount, (bytes.count - position) / minimumRecordLength))
        for _ in 0..<answerCount {
            let envelope = try readEnvelope(bytes, at: position)
            response.answers.append(try record(envelope, bytes))
            position = envelope.dataEnd
        }
        response.additionals = readAdditionals(
            bytes, from: position, authorityCount: Int(bytes.uint16(at: 8)), additionalCount: Int(bytes.uint16(at: 10)))
        return response
    }

    /// A record's owner, fixed fields and where its RDATA lies, before the data is read.
    private struct Envelope {
        var name: String
        var type: UInt16
        var recordClass: UInt16
        var ttl: UInt32
        var dataStart: Int
        var dataEnd: Int
    }

    private static func readEnvelope(_ bytes: [UInt8], at start: Int) throws(DNSParseError) -> Envelope {
        let (name, nameEnd) = try DNSName.decode(bytes, at: start)
        guard nameEnd + 10 <= bytes.count else { throw .truncated(at: bytes.count) }
        let ttl = bytes.uint32(at: nameEnd + 4)
        let dataStart = nameEnd + 10
        let dataEnd = dataStart + Int(bytes.uint16(at: nameEnd + 8))
        guard dataEnd <= bytes.count else { throw .truncated(at: bytes.count) }
        return Envelope(
            name: name, type: bytes.uint16(at: nameEnd), recordClass: bytes.uint16(at: nameEnd + 2),
            ttl: ttl > UInt32(Int32.max) ? 0 : ttl, dataStart: dataStart, dataEnd: dataEnd)
    }

    /// The record with its data read. A, AAAA, CNAME and SRV data of the wrong length is an error (the whole
    /// response is refused, as nginx refuses it: a server that sends it cannot be trusted for the rest).
    private static func record(_ envelope: Envelope, _ bytes: [UInt8]) throws(DNSParseError) -> DNSRecord {
        DNSRecord(
            name: envelope.name, type: envelope.type, recordClass: envelope.recordClass, ttl: envelope.ttl,
            data: try data(envelope, bytes))
    }

    private static func data(_ envelope: Envelope, _ bytes: [UInt8]) throws(DNSParseError) -> DNSRecordData {
        guard envelope.recordClass == dnsClassIN, let type = DNSRecordType(rawValue: envelope.type) else {
            return .other
        }
        let start = envelope.dataStart
        let length = envelope.dataEnd - start
        let wrongLength = DNSParseError.badRecordLength(type: envelope.type, length: length, at: start)
        switch type {
        case .a:
            guard length == 4 else { throw wrongLength }
            return .ipv4(bytes[start], bytes[start + 1], bytes[start + 2], bytes[start + 3])
        case .aaaa:
            guard length == 16 else { throw wrongLength }
            return .ipv6(Array(bytes[start..<envelope.dataEnd]))
        case .cname:
            // The name may point anywhere before it, but its own bytes must fill the RDATA exactly.
            let (target, end) = try DNSName.decode(bytes, at: start)
            guard end == envelope.dataEnd else { throw wrongLength }
            return .cname(target)
        case .srv:
            // RFC 2782 forbids compressing the target; servers do it anyway, so pointers are followed.
            guard length >= 7 else { throw wrongLength }
            let (target, end) = try DNSName.decode(bytes, at: start + 6)
            guard end == envelope.dataEnd else { throw wrongLength }
            return .srv(
                priority: bytes.uint16(at: start), weight: bytes.uint16(at: start + 2),
                port: bytes.uint16(at: start + 4), target: target)
        }
    }

    /// Steps over the authority section and reads the additional section, leniently (see `additionals`).
    private static func readAdditionals(
        _ bytes: [UInt8], from start: Int, authorityCount: Int, additionalCount: Int
    ) -> [DNSRecord] {
        var position = start
        for _ in 0..<authorityCount {
            guard let envelope = try? readEnvelope(bytes, at: position) else { return [] }
            position = envelope.dataEnd
        }
        var records: [DNSRecord] = []
        for _ in 0..<additionalCount {
            guard let envelope = try? readEnvelope(bytes, at: position) else { break }
            position = envelope.dataEnd
            if let record = try? record(envelope, bytes) { records.append(record) }
        }
        return records
    }
}
