/// `log_format NAME [escape=default|json|none] STRING ...`: a line template and how variable values are escaped.
public struct LogFormat: Sendable, Equatable {
    public enum Escape: Sendable, Equatable {
        /// `"`, `\` and bytes below 32 or above 126 as `\xXX` (nginx's default).
        case `default`
        /// JSON string escapes (`\"`, `\\`, `\n`, `\u00XX`).
        case json
        case none
    }

    public var name: String
    public var escape: Escape
    public var template: VariableTemplate {
        didSet {
            segments = Self.segments(of: template)
            (literals, steps, variables) = Self.compile(segments)
        }
    }
    /// The template ready to write: literals as bytes, so a line copies them without going through `String`.
    public private(set) var segments: [Segment]
    /// The same as steps over one byte array, for the hot path: each step writes `literals[literal]`, then
    /// `variables[variable]` when `variable >= 0`. Steps are trivial values, so writing a line copies no payload.
    public private(set) var literals: [UInt8] = []
    public private(set) var steps: [Step] = []
    public private(set) var variables: [Variable] = []

    public struct Step: Sendable, Equatable {
        public let literalStart: Int
        public let literalEnd: Int
        public let variable: Int
    }

    private static func compile(_ segments: [Segment]) -> ([UInt8], [Step], [Variable]) {
        var literals: [UInt8] = []
        var steps: [Step] = []
        var variables: [Variable] = []
        var start = 0
        for segment in segments {
            switch segment {
            case .bytes(let bytes):
                literals += bytes
            case .variable(let variable):
                steps.append(Step(literalStart: start, literalEnd: literals.count, variable: variables.count))
                variables.append(variable)
                start = literals.count
            }
        }
        if start < literals.count {
            steps.append(Step(literalStart: start, literalEnd: literals.count, variable: -1))
        }
        return (literals, steps, variables)
    }

    public enum Segment: Sendable, Equatable {
        case bytes([UInt8])
        case variable(Variable)
    }

    public init(name: String, escape: Escape, template: VariableTemplate) {
        self.name = name
        self.escape = escape
        self.template = template
        self.segments = Self.segments(of: template)
        (literals, steps, variables) = Self.compile(segments)
    }

    private static func segments(of template: VariableTemplate) -> [Segment] {
        template.parts.map { part in
            switch part {
            case .literal(let text): return .bytes(Array(text.utf8))
            case .variable(let variable): return .variable(variable)
            }
        }
    }

    /// nginx's predefined format.
    public static let combined = LogFormat(
        name: "combined", escape: .default,
        template: VariableTemplate(parts: [
            .variable(.remoteAddr), .literal(" - "), .variable(.remoteUser), .literal(" ["), .variable(.timeLocal),
            .literal("] \""), .variable(.request), .literal("\" "), .variable(.status), .literal(" "),
            .variable(.bodyBytesSent), .literal(" \""), .variable(.httpHeader("referer")), .literal("\" \""),
            .variable(.httpHeader("user_agent")), .literal("\""),
        ]))
}

/// One `access_log PATH [FORMAT [buffer=SIZE] [flush=TIME] [if=CONDITION]]` line.
public struct AccessLog: Sendable, Equatable {
    /// Absolute path (relative ones are taken from the prefix, as nginx does).
    public var path: String
    public var format: LogFormat
    /// `buffer=`: lines are gathered up to this many bytes per event loop before they are written (nil: each
    /// line goes to the writer at once).
    public var bufferSize: Int?
    /// `flush=`: the longest a buffered line waits.
    public var flush: TimeSpan?
    /// `if=`: the line is written unless this evaluates to "" or "0".
    public var condition: VariableTemplate?

    public init(path: String, format: LogFormat, bufferSize: Int? = nil, flush: TimeSpan? = nil,
                condition: VariableTemplate? = nil) {
        self.path = path
        self.format = format
        self.bufferSize = bufferSize
        self.flush = flush
        self.condition = condition
    }
}
