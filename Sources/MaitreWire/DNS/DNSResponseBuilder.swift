/// Writes DNS responses, for tests and the test DNS server of the integration tests: a question, records in the
/// answer, authority and additional sections, flags and rcode, names compressed or not.
///
///     var builder = DNSResponseBuilder(id: query.id, questionName: query.name, questionType: query.type)
///     builder.answers.append(DNSRecord(name: "api.test", ttl: 30, data: .ipv4(10, 0, 0, 1)))
///     let datagram = builder.encode()
///
/// Record data is written as given, so a test can also write what a parser must refuse (an `.ipv6` of 5 bytes
/// gives an AAAA record with RDLENGTH 5).
public struct DNSResponseBuilder: Sendable {
    public var id: UInt16
    /// The question echoed in the response, written as given (case kept).
    public var questionName: String
    public var questionType: UInt16
    public var rcode: UInt8 = DNSResponse.ResponseCode.noError
    /// Sets TC, which tells the resolver the answer was cut to fit UDP.
    public var isTruncated = false
    public var isAuthoritative = true
    /// Whether names, and their tails, that were written before are written as compression pointers
    /// (RFC 1035 §4.1.4), SRV targets included (which RFC 2782 forbids but servers do).
    public var compressesNames = true
    public var answers: [DNSRecord] = []
    /// Records of the authority section (an SOA for a negative answer, say); parsers step over them.
    public var authorities: [DNSRecord] = []
    public var additionals: [DNSRecord] = []

    /// A response to a question of a raw type (as `DNSQuery.parse` returns it).
    public init(id: UInt16, questionName: String, questionType: UInt16) {
        self.id = id
        self.questionName = questionName
        self.questionType = questionType
    }

    public init(id: UInt16, questionName: String, questionType: DNSRecordType) {
        self.init(id: id, questionName: questionName, questionType: questionType.rawValue)
    }

    /// The message; nil when a name is not a valid domain name (owner names may also be "" or "." for the
    /// root), a section holds more than 65,535 records or a record's data more than 65,535 bytes.
    public func encode() -> [UInt8]? {
        guard answers.count <= 0xFFFF, authorities.count <= 0xFFFF, additionals.count <= 0xFFFF,
            let questionLabels = DNSName.labels(fromText: questionName)
        else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(512)
        var compressor = DNSNameCompressor(isEnabled: compressesNames)
        out.appendUInt16(id)
        var flags: UInt16 = 0x8000 | 0x0100 | 0x0080  // QR, RD (echoed), RA
        if isAuthoritative { flags |= 0x0400 }
        if isTruncated { flags |= 0x0200 }
        flags |= UInt16(rcode & 0x0F)
        out.appendUInt16(flags)
        out.appendUInt16(1)
        out.appendUInt16(UInt16(answers.count))
        out.appendUInt16(UInt16(authorities.count))
        out.appendUInt16(UInt16(additionals.count))
        compressor.append(questionLabels, to: &out)
        out.appendUInt16(questionType)
        out.appendUInt16(dnsClassIN)
        for record in answers + authorities + additionals {
            guard Self.append(record, to: &out, compressor: &compressor) else { return nil }
        }
        return out
    }

    /// Appends one record; false when a name is invalid or the data too long.
    private static func append(_ record: DNSRecord, to out: inout [UInt8], compressor: inout DNSNameCompressor) -> Bool {
        guard let owner = labelsAllowingRoot(record.name) else { return false }
        compressor.append(owner, to: &out)
        out.appendUInt16(record.type)
        out.appendUInt16(record.recordClass)
        out.appendUInt32(record.ttl)
        let lengthOffset = out.count
        out.appendUInt16(0)  // RDLENGTH, patched below once the data is written
        switch record.data {
        case .ipv4(let a, let b, let c, let d):
            out.append(contentsOf: [a, b, c, d])
        case .ipv6(let bytes):
            out.append(contentsOf: bytes)
        case .srv(let priority, let weight, let port, let target):
            guard let labels = labelsAllowingRoot(target) else { return false }
            out.appendUInt16(priority)
            out.appendUInt16(weight)
            out.appendUInt16(port)
            compressor.append(labels, to: &out)
        case .cname(let target):
            guard let labels = DNSName.labels(fromText: target) else { return false }
            compressor.append(labels, to: &out)
        case .other:
            break
        }
        let length = out.count - lengthOffset - 2
        guard length <= 0xFFFF else { return false }
        out[lengthOffset] = UInt8(truncatingIfNeeded: length >> 8)
        out[lengthOffset + 1] = UInt8(truncatingIfNeeded: length)
        return true
    }

    /// Labels of a name that may be the root ("" or "."): an OPT record's owner, an SRV target of "."
    private static func labelsAllowingRoot(_ name: String) -> [[UInt8]]? {
        name.isEmpty || name == "." ? [] : DNSName.labels(fromText: name)
    }
}
