/// What the registry needs to know about an upstream's active check to keep its peers' verdicts: the counts, the
/// starting state, and a description of what is probed. A reload that changes any of it restarts the verdicts of
/// that upstream's peers from `defaultDown` (a verdict reached by another probe says nothing about this one);
/// otherwise a peer that stays keeps its verdict and streaks (the module's reload inheritance, but matched by
/// peer identity instead of by address alone, which mixed up upstreams sharing an address).
public struct HealthRules: Sendable, Equatable {
    public let rise: Int
    public let fall: Int
    public let defaultDown: Bool
    /// The probe as configured (type, port, request, expected classes), compared across reloads.
    public let probe: String

    public init(rise: Int, fall: Int, defaultDown: Bool, probe: String) {
        self.rise = rise
        self.fall = fall
        self.defaultDown = defaultDown
        self.probe = probe
    }
}
