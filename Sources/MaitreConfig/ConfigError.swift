/// A configuration error (or warning), worded as nginx words it.
public struct ConfigError: Error, CustomStringConvertible, Equatable {
    /// The message alone, e.g. `unknown directive "proxy_pas"`.
    public let message: String
    /// Where the offending directive ends (nginx reports the line of its `;` or `{`); nil when the problem has no place,
    /// such as an unreadable main file or a conflict found only once the whole `http` block is known.
    public let location: SourceLocation?

    public init(_ message: String, at location: SourceLocation?) {
        self.message = message
        self.location = location
    }

    /// nginx's form: `unknown directive "proxy_pas" in /etc/maitre/maitre.conf:12`, `... in command line` for `-g`.
    public var description: String {
        guard let location else { return message }
        if location == .commandLine { return "\(message) in command line" }
        return "\(message) in \(location.file):\(location.line)"
    }
}

extension SourceLocation {
    /// The place of directives given with `-g`; nginx reports their errors as `in command line`.
    public static let commandLine = SourceLocation(file: "command line", line: 0)
}
