import Foundation
import NIOConcurrencyHelpers

/// Client threads that really run at once (one OS thread each, unlike `concurrentPerform`, which a 2-core runner
/// serialises), each repeating `body` until `stop()` is called or its own bound of iterations is reached.
final class LoadThreads: Sendable {
    private let stopped = NIOLockedValueBox(false)
    private let finished = DispatchGroup()

    /// Starts `count` threads; `body(thread, iteration)` runs at most `maxIterations` times per thread.
    init(count: Int, maxIterations: Int, _ body: @escaping @Sendable (Int, Int) -> Void) {
        for index in 0..<count {
            finished.enter()
            let thread = Thread { [stopped, finished] in
                var iteration = 0
                while iteration < maxIterations, !stopped.withLockedValue({ $0 }) {
                    body(index, iteration)
                    iteration += 1
                }
                finished.leave()
            }
            thread.start()
        }
    }

    var isStopped: Bool { stopped.withLockedValue { $0 } }

    /// Asks every thread to stop after its current iteration and waits for them, at most `timeout` seconds.
    /// Returns false when some thread did not finish in time.
    @discardableResult
    func stop(timeout: Double = 30) -> Bool {
        stopped.withLockedValue { $0 = true }
        return finished.wait(timeout: .now() + timeout) == .success
    }
}

/// Counters the load threads add to.
final class LoadTally: Sendable {
    struct Counts {
        var succeeded = 0
        var failed = 0
        var failures: [String] = []
        var bodies: [String: Int] = [:]
    }

    private let counts = NIOLockedValueBox(Counts())

    func success(body: String) {
        counts.withLockedValue {
            $0.succeeded += 1
            $0.bodies[body, default: 0] += 1
        }
    }

    func failure(_ description: String) {
        counts.withLockedValue {
            $0.failed += 1
            if $0.failures.count < 10 { $0.failures.append(description) }
        }
    }

    var value: Counts { counts.withLockedValue { $0 } }
}
