import MaitreBalancing
import MaitreConfig
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// The process's active health checks: one probe schedule per checked peer (per registry record), whatever the
/// number of event loops, so check traffic does not grow with `worker_processes`. Schedules are spread over the
/// loops by record number. The registry decides what is checked (`update`, at start and at every reload) and
/// receives every result; a schedule for a peer that stays across a reload keeps running untouched.
final class HealthChecker: Sendable {
    /// One checked peer.
    struct Target: Sendable, Equatable {
        let record: PeerRecordID
        /// Where probes go: the peer's address, or its `port=` override.
        let address: SocketAddress
        let check: HealthCheck

        /// `ip:port` as the module logs it.
        var addressText: String {
            guard let ip = address.ipAddress, let port = address.port else { return "\(address)" }
            return address.protocol == .inet6 ? "[\(ip)]:\(port)" : "\(ip):\(port)"
        }
    }

    /// A probe's verdict, with the target it was made for (the registry drops verdicts for a target a reload
    /// replaced meanwhile).
    /// A probe's target, result, and how long it took (nanoseconds, the loop's clock).
    typealias Report = @Sendable (Target, ProbeResult, Int64) -> Void

    private let group: any EventLoopGroup
    private let report: Report
    private let connector: any ProbeConnector
    private let schedules = NIOLockedValueBox(Schedules())

    private struct Schedules {
        var running: [PeerRecordID: Running] = [:]
        var stopped = false
    }

    private struct Running {
        let target: Target
        /// Filled on its loop (a loop-bound value can only be made there; `update` runs on the reload's thread).
        let schedule: NIOLoopBoundBox<ProbeSchedule?>
    }

    /// `connector` opens the probes' connections (sockets unless a test injects its own).
    init(group: any EventLoopGroup, connector: any ProbeConnector = SocketConnector(), report: @escaping Report) {
        self.connector = connector
        self.group = group
        self.report = report
    }

    /// Runs exactly `targets` from now on: new ones start (after a random part of their interval, so N servers are
    /// not probed in the same millisecond), dropped or changed ones stop, unchanged ones go on. Ignored once
    /// `stop()` was called. The loop tasks are posted under the lock, so a concurrent `stop()` can never leave a
    /// schedule running that it did not see.
    func update(_ targets: [Target]) {
        let loops = Array(group.makeIterator())
        guard !loops.isEmpty else { return }
        let report = self.report
        let connector = self.connector
        schedules.withLockedValue { schedules in
            guard !schedules.stopped else { return }
            var wanted: [PeerRecordID: Target] = [:]
            for target in targets { wanted[target.record] = target }
            for (record, entry) in schedules.running where wanted[record] != entry.target {
                schedules.running[record] = nil
                Self.postStop(entry.schedule)
            }
            for target in targets where schedules.running[target.record] == nil {
                let loop = loops[Int(target.record.value % UInt64(loops.count))]
                let box = NIOLoopBoundBox.makeEmptyBox(valueType: ProbeSchedule.self, eventLoop: loop)
                schedules.running[target.record] = Running(target: target, schedule: box)
                box.eventLoop.execute {
                    let schedule = ProbeSchedule(
                        target: target, eventLoop: box.eventLoop, connector: connector, report: report)
                    box.value = schedule
                    schedule.start()
                }
            }
        }
    }

    /// Stops every schedule for good (shutdown): later `update`s are ignored.
    func stop() {
        schedules.withLockedValue { schedules in
            schedules.stopped = true
            for entry in schedules.running.values { Self.postStop(entry.schedule) }
            schedules.running = [:]
        }
    }

    private static func postStop(_ box: NIOLoopBoundBox<ProbeSchedule?>) {
        box.eventLoop.execute {
            box.value?.stop()
            box.value = nil
        }
    }
}

/// One peer's probes, confined to one event loop: the first after a random delay within the interval, then each
/// `interval` after the previous one ended (the module measures from the last result). At most one probe is in
/// flight; `timeout` bounds connect, send and read together.
final class ProbeSchedule {
    private let target: Target
    private let eventLoop: any EventLoop
    private let report: HealthChecker.Report
    private let connector: any ProbeConnector
    private var timer: Scheduled<Void>?
    private var probe: ProbeAttempt?
    private var stopped = false

    typealias Target = HealthChecker.Target

    init(target: Target, eventLoop: any EventLoop, connector: any ProbeConnector, report: @escaping HealthChecker.Report) {
        self.connector = connector
        self.target = target
        self.eventLoop = eventLoop
        self.report = report
    }

    func start() {
        let spread = max(target.check.intervalMilliseconds, 1_000)
        schedule(after: Int64.random(in: 0..<spread))
    }

    func stop() {
        stopped = true
        timer?.cancel()
        timer = nil
        probe?.cancel()
        probe = nil
    }

    private func schedule(after milliseconds: Int64) {
        guard !stopped else { return }
        timer = eventLoop.assumeIsolated().scheduleTask(in: .milliseconds(milliseconds)) { [self] in
            timer = nil
            runProbe()
        }
    }

    private func runProbe() {
        guard !stopped, probe == nil else { return }
        let started = eventLoop.now
        let attempt = ProbeAttempt(target: target, eventLoop: eventLoop, connector: connector) { [self] result in
            probe = nil
            guard !stopped else { return }
            report(target, result, Int64((eventLoop.now - started).nanoseconds))
            schedule(after: target.check.intervalMilliseconds)
        }
        probe = attempt
        attempt.run()
    }
}

@available(*, unavailable)
extension ProbeSchedule: Sendable {}

/// One probe: connect, let `HealthProbeHandler` judge, and fail it when `timeout` runs out first. Calls `done`
/// once, unless cancelled.
final class ProbeAttempt {
    private let target: HealthChecker.Target
    private let eventLoop: any EventLoop
    private var done: ((ProbeResult) -> Void)?
    private var deadline: Scheduled<Void>?
    private var channel: (any Channel)?

    private let connector: any ProbeConnector

    init(
        target: HealthChecker.Target, eventLoop: any EventLoop, connector: any ProbeConnector,
        done: @escaping (ProbeResult) -> Void
    ) {
        self.connector = connector
        self.target = target
        self.eventLoop = eventLoop
        self.done = done
    }

    func run() {
        let timeout = TimeAmount.milliseconds(target.check.timeoutMilliseconds)
        deadline = eventLoop.assumeIsolated().scheduleTask(in: timeout) { [self] in
            finish(.timedOut)
        }
        let check = target.check
        let bound = NIOLoopBound(self, eventLoop: eventLoop)
        connector.connectProbe(to: target.address, timeout: timeout, on: eventLoop) { channel in
            try channel.pipeline.syncOperations.addHandler(
                HealthProbeHandler(check: check) { result in bound.value.finish(result) })
        }
            .assumeIsolated()
            .whenComplete { [self] result in
                switch result {
                case .success(let channel):
                    if done == nil {
                        channel.close(promise: nil)  // judged (or timed out) already
                    } else {
                        self.channel = channel
                    }
                case .failure(let error):
                    finish(Self.connectFailure(error))
                }
            }
    }

    func cancel() {
        done = nil
        deadline?.cancel()
        channel?.close(promise: nil)
        channel = nil
    }

    private func finish(_ result: ProbeResult) {
        guard let done else { return }
        self.done = nil
        deadline?.cancel()
        deadline = nil
        channel?.close(promise: nil)
        channel = nil
        done(result)
    }

    /// nginx's `(errno: text)` for a failed connect; a connect timeout is the probe's timeout.
    private static func connectFailure(_ error: any Error) -> ProbeResult {
        if let error = error as? IOError {
            return .connectFailed(errno: error.errnoCode)
        }
        if error is ChannelError { return .timedOut }
        return .connectFailed(reason: "\(error)")
    }
}

@available(*, unavailable)
extension ProbeAttempt: Sendable {}
