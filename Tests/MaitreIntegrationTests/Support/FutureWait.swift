import Foundation
import Dispatch
import NIOCore

/// Waits for a future from a test thread, at most `seconds` (a plain `.wait()` could block the test forever).
func waitBounded<T: Sendable>(_ future: EventLoopFuture<T>, seconds: Int = 10) throws -> T {
    let done = DispatchSemaphore(value: 0)
    let box = ResultBox<T>()
    future.whenComplete { result in
        box.result = result
        done.signal()
    }
    guard done.wait(timeout: .now() + .seconds(seconds)) == .success, let result = box.result else {
        throw FutureWaitTimeout(description: "future did not complete in \(seconds) s")
    }
    return try result.get()
}

private final class ResultBox<T: Sendable>: @unchecked Sendable {
    // Written by the future's callback before the semaphore is signalled, read after the wait: ordered by it.
    var result: Result<T, any Error>?
}

struct FutureWaitTimeout: Error, CustomStringConvertible {
    let description: String
}

/// Polls `condition` every 10 ms until it holds or `seconds` pass; returns whether it held.
func eventually(_ seconds: Double = 5, _ condition: () throws -> Bool) rethrows -> Bool {
    let deadline = DispatchTime.now() + seconds
    while DispatchTime.now() < deadline {
        if try condition() { return true }
        usleep(10_000)
    }
    return try condition()
}
