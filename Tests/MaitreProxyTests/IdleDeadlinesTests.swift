import NIOCore
import NIOEmbedded
import XCTest

@testable import MaitreProxy

/// The loop's idle deadlines: owners are called back when due, in deadline order, once per armed entry; a later
/// deadline re-arms lazily; dropped owners and replaced entries are skipped.
final class IdleDeadlinesTests: XCTestCase {
    private final class Owner: IdleDeadlineOwner {
        var idleTicket: IdleDeadlines.Ticket?
        lazy var idleSlot = IdleDeadlineSlot(owner: self)
        let name: String
        let log: (String) -> Void
        var onDue: () -> Void = {}
        init(_ name: String, log: @escaping (String) -> Void) {
            self.name = name
            self.log = log
        }
        func idleDeadlineCameDue() {
            log(name)
            onDue()
        }
    }

    func testDueInOrderAndOnlyOnce() {
        let loop = EmbeddedEventLoop()
        let deadlines = IdleDeadlines(eventLoop: loop)
        var fired: [String] = []
        let start = loop.now
        let a = Owner("a") { fired.append($0) }
        let b = Owner("b") { fired.append($0) }
        let c = Owner("c") { fired.append($0) }
        deadlines.arm(c, at: start + .milliseconds(300))
        deadlines.arm(a, at: start + .milliseconds(100))
        deadlines.arm(b, at: start + .milliseconds(200))
        // A later deadline for an owner already queued earlier adds nothing.
        deadlines.arm(a, at: start + .milliseconds(250))
        XCTAssertEqual(deadlines.count, 3)
        loop.advanceTime(by: .milliseconds(150))
        XCTAssertEqual(fired, ["a"])
        loop.advanceTime(by: .milliseconds(200))
        XCTAssertEqual(fired, ["a", "b", "c"])
        XCTAssertEqual(deadlines.count, 0)
        loop.advanceTime(by: .seconds(10))
        XCTAssertEqual(fired, ["a", "b", "c"])
    }

    /// An earlier deadline than the queued one replaces it; the replaced entry is skipped when it comes due.
    func testEarlierDeadlineReplacesEntry() {
        let loop = EmbeddedEventLoop()
        let deadlines = IdleDeadlines(eventLoop: loop)
        var fired: [String] = []
        let a = Owner("a") { fired.append($0) }
        deadlines.arm(a, at: loop.now + .seconds(60))
        deadlines.arm(a, at: loop.now + .seconds(1))
        loop.advanceTime(by: .seconds(2))
        XCTAssertEqual(fired, ["a"])
        loop.advanceTime(by: .seconds(60))
        XCTAssertEqual(fired, ["a"], "the replaced 60 s entry is stale")
    }

    /// An owner that re-arms from its callback is called again at the new deadline; a released owner is not.
    func testRearmFromCallbackAndReleasedOwner() {
        let loop = EmbeddedEventLoop()
        let deadlines = IdleDeadlines(eventLoop: loop)
        var fired: [String] = []
        let a = Owner("a") { fired.append($0) }
        var rearmed = false
        a.onDue = {
            if !rearmed {
                rearmed = true
                deadlines.arm(a, at: loop.now + .seconds(5))
            }
        }
        var b: Owner? = Owner("b") { fired.append($0) }
        deadlines.arm(a, at: loop.now + .seconds(1))
        deadlines.arm(b!, at: loop.now + .seconds(2))
        weak var droppedB = b
        b?.idleSlot.release()  // what a handler does when its connection is done
        b = nil
        XCTAssertNil(droppedB, "a released owner is not kept by the heap")
        loop.advanceTime(by: .seconds(3))
        XCTAssertEqual(fired, ["a"])
        loop.advanceTime(by: .seconds(5))
        XCTAssertEqual(fired, ["a", "a"])
        XCTAssertEqual(deadlines.count, 0)
    }
}
