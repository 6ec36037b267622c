import MaitreBalancing

/// One try of one peer for one request: what nginx keeps in `u->state` and prints as `$upstream_addr`,
/// `$upstream_status` and the `$upstream_*_time` lists. Times are nanoseconds from the attempt's start; -1 where
/// the step was not reached (nginx prints `-`).
struct AttemptRecord: Equatable {
    let peer: PeerID
    /// When the attempt started (the loop's clock, nanoseconds).
    let startedAt: Int64
    /// The upstream's status, or the status nginx records for a failed attempt (502, or 504 for a timeout);
    /// 0 while none is known.
    var status = 0
    var connectNanoseconds: Int64 = -1
    var headerNanoseconds: Int64 = -1
    var responseNanoseconds: Int64 = -1
    /// Bytes written to the upstream (head, body, chunk framing), bytes received (head and body as delivered),
    /// and the response body's length: `$upstream_bytes_sent`, `$upstream_bytes_received`,
    /// `$upstream_response_length`.
    var bytesSent = 0
    var bytesReceived = 0
    var responseLength = 0
    /// Why the attempt failed before a response was accepted; nil when a response head arrived.
    var failure: RetryPolicy.Failure?

    init(peer: PeerID, startedAt: Int64) {
        self.peer = peer
        self.startedAt = startedAt
    }

    /// The attempt failed before a response was accepted.
    mutating func fail(_ failure: RetryPolicy.Failure, at now: Int64) {
        if status == 0 { status = failure == .timeout ? 504 : 502 }
        self.failure = failure
        responseNanoseconds = now - startedAt
    }

    mutating func finish(at now: Int64) {
        responseNanoseconds = now - startedAt
    }
}

/// The attempts of one request in order. The first is kept inline: a request that needs one attempt (nearly all)
/// allocates nothing for its record.
struct AttemptLog: Equatable {
    private var first: AttemptRecord?
    private var more: [AttemptRecord] = []

    var count: Int { first == nil ? 0 : 1 + more.count }
    var isEmpty: Bool { first == nil }

    var last: AttemptRecord? { more.last ?? first }

    mutating func append(_ record: AttemptRecord) {
        if first == nil { first = record } else { more.append(record) }
    }

    mutating func updateLast(_ change: (inout AttemptRecord) -> Void) {
        if !more.isEmpty {
            change(&more[more.count - 1])
        } else if var record = first {
            change(&record)
            first = record
        }
    }

    /// Calls `body` with each attempt in order.
    func forEach(_ body: (AttemptRecord) -> Void) {
        guard let first else { return }
        body(first)
        for record in more { body(record) }
    }

    var all: [AttemptRecord] {
        var records: [AttemptRecord] = []
        forEach { records.append($0) }
        return records
    }
}
