/// A `location ~ re` / `~* re` pattern compiled at load. nginx uses PCRE; Swift's Regex accepts the same
/// syntax for what locations use (classes, anchors, alternation, groups, quantifiers).
public struct LocationRegex: @unchecked Sendable {
    // Regex<AnyRegexOutput> is immutable once built; matching does not mutate it.
    private let regex: Regex<AnyRegexOutput>
    public let pattern: String
    public let caseInsensitive: Bool

    /// Throws the compiler's message when the pattern is invalid.
    public init(pattern: String, caseInsensitive: Bool) throws {
        var compiled = try Regex(pattern)
        if caseInsensitive { compiled = compiled.ignoresCase() }
        self.regex = compiled
        self.pattern = pattern
        self.caseInsensitive = caseInsensitive
    }

    /// nginx matches location regexes anywhere in the URI unless anchored.
    public func matches(_ uri: String) -> Bool {
        (try? regex.firstMatch(in: uri)) != nil
    }
}
