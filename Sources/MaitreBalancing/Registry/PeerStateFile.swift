/// The text of an upstream's `state FILE`: the run-time overrides of its peers (a weight or an admin state set
/// through the API that differs from the configuration), one `server` line each, in the upstream's syntax:
///
///     # maitred state of upstream "backend" ...
///     server 10.0.0.1:8080 weight=3;
///     server 10.0.0.2:8080 drain;
///
/// Pure: the registry writes the text (atomically, off the event loops) after every change and reads it back at
/// start, where each line is applied to the peer with that address as if the API had set it.
public enum PeerStateFile {
    public struct Override: Sendable, Equatable {
        public var address: String
        public var weight: Int?
        public var adminState: PeerAdminState?

        public init(address: String, weight: Int? = nil, adminState: PeerAdminState? = nil) {
            self.address = address
            self.weight = weight
            self.adminState = adminState
        }
    }

    /// A line that could not be read: its number and why.
    public struct LineError: Error, Equatable, CustomStringConvertible {
        public let line: Int
        public let message: String
        public var description: String { "\(message) in line \(line)" }
    }

    /// The overrides of `records` (one upstream's, in order): peers whose weight or admin state is not what the
    /// configuration says.
    public static func overrides(of records: [PeerRecord]) -> [Override] {
        records.compactMap { record in
            let configuredState: PeerAdminState = record.configured.down ? .down : .up
            let configuredWeight = PeerRegistryState.clampedWeight(record.configured.weight)
            let weight = record.weight != configuredWeight ? record.weight : nil
            let state = record.adminState != configuredState ? record.adminState : nil
            guard weight != nil || state != nil else { return nil }
            return Override(address: record.identity.address, weight: weight, adminState: state)
        }
    }

    public static func text(upstream: String, overrides: [Override]) -> String {
        var out = "# maitred state of upstream \"\(upstream)\": run-time changes to its servers (weight, down, drain)"
            + " that differ from the configuration.\n# Written by maitred after every change; read at start.\n"
        for override in overrides {
            out += "server \(override.address)"
            if let weight = override.weight { out += " weight=\(weight)" }
            if let state = override.adminState { out += " " + state.rawValue }
            out += ";\n"
        }
        return out
    }

    /// Reads a state file's text. Blank lines and `#` comments are skipped; anything else must be a line that
    /// `text` writes.
    public static func parse(_ text: String) -> Result<[Override], LineError> {
        var overrides: [Override] = []
        for (index, raw) in text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" }).enumerated() {
            let line = raw.trimmingWhitespace
            if line.isEmpty || line.hasPrefix("#") { continue }
            guard line.hasSuffix(";") else { return .failure(LineError(line: index + 1, message: "missing \";\"")) }
            let words = line.dropLast().split(separator: " ", omittingEmptySubsequences: true).map(String.init)
            guard words.count >= 2, words[0] == "server" else {
                return .failure(LineError(line: index + 1, message: "expected \"server ADDRESS ...;\""))
            }
            var override = Override(address: words[1])
            for word in words.dropFirst(2) {
                if word.hasPrefix("weight="), let weight = Int(word.dropFirst(7)),
                    (1...UpstreamBalancer.maximumWeight).contains(weight)
                {
                    override.weight = weight
                } else if let state = PeerAdminState(rawValue: word) {
                    override.adminState = state
                } else {
                    return .failure(LineError(line: index + 1, message: "invalid parameter \"\(word)\""))
                }
            }
            overrides.append(override)
        }
        return .success(overrides)
    }
}

extension Substring {
    fileprivate var trimmingWhitespace: Substring {
        var out = self
        while let first = out.first, first == " " || first == "\t" || first == "\r" { out = out.dropFirst() }
        while let last = out.last, last == " " || last == "\t" || last == "\r" { out = out.dropLast() }
        return out
    }
}
