import MaitreBalancing

/// The registry's reconcile step with what outlives the process: an upstream's `state FILE` (nginx Plus) is read
/// when a configuration first names it and applied over the configuration, and rewritten whenever an override
/// changes (an API call, a reload that resets one). Called under the registry's lock.
extension UpstreamRegistry {
    func reconcile(_ snapshot: ProxySnapshot, state: inout State) -> ReconciledPeers {
        var peers = state.records.reconcile(snapshot.peerLists)
        for record in peers.removed { state.history[record] = nil }
        var files: [String: String] = [:]
        for plan in snapshot.upstreams {
            if let path = plan.upstream.stateFile { files[plan.upstream.name] = path }
        }
        var restored = false
        for (upstream, path) in files.sorted(by: { $0.key < $1.key }) where state.stateFiles[upstream] != path {
            if restoreStateFile(path, upstream: upstream, state: &state) { restored = true }
        }
        state.stateFiles = files
        if restored { peers = state.records.refreshed(peers) }
        writeStateFiles(&state)
        return peers
    }

    /// Applies a state file's overrides to the upstream's records, each line to the first peer with its address
    /// not taken by an earlier line. A file that cannot be read is reported and ignored (the configuration's
    /// values hold). Returns true when something changed.
    private func restoreStateFile(_ path: String, upstream: String, state: inout State) -> Bool {
        let text: String
        switch StateFileStore.read(path) {
        case .success(nil): return false
        case .success(let read?): text = read
        case .failure(let error):
            log.log(.error, error.description)
            return false
        }
        let overrides: [PeerStateFile.Override]
        switch PeerStateFile.parse(text) {
        case .success(let parsed): overrides = parsed
        case .failure(let error):
            log.log(.error, StateFileError.invalid(path, error).description)
            return false
        }
        state.stateTexts[path] = text
        var candidates = state.records.sortedRecords.filter { $0.identity.upstream == upstream && !$0.identity.isStream }
        let now = WallClock.nowMilliseconds()
        var changed = false
        for override in overrides {
            guard let position = candidates.firstIndex(where: { $0.identity.address == override.address }) else {
                log.log(.warn, "state file \"\(path)\" names no server \(override.address) of upstream \"\(upstream)\"")
                continue
            }
            let record = candidates.remove(at: position)
            if let weight = override.weight, (try? state.records.setWeight(weight, for: record.identity)) != nil {
                state.history[record.id, default: PeerHistory()].note("weight \(weight) restored from state file", at: now)
                changed = true
            }
            if let admin = override.adminState, (try? state.records.setAdminState(admin, for: record.identity)) != nil {
                state.history[record.id, default: PeerHistory()].note(
                    "\(admin.rawValue) restored from state file", at: now)
                changed = true
            }
        }
        return changed
    }

    /// Schedules a write of every state file whose text changed.
    func writeStateFiles(_ state: inout State) {
        guard !state.stateFiles.isEmpty else { return }
        let records = state.records.sortedRecords
        for (upstream, path) in state.stateFiles.sorted(by: { $0.key < $1.key }) {
            let overrides = PeerStateFile.overrides(of: records.filter { $0.identity.upstream == upstream && !$0.identity.isStream })
            let text = PeerStateFile.text(upstream: upstream, overrides: overrides)
            guard state.stateTexts[path] != text else { continue }
            state.stateTexts[path] = text
            stateFileStore.write(text, to: path)
        }
    }
}

/// The history's words for an operator's changes.
enum PeerEvents {
    static func adminState(_ adminState: PeerAdminState, by source: String) -> String {
        switch adminState {
        case .drain: "drained by \(source)"
        case .down: "set down by \(source)"
        case .up: "set up by \(source)"
        }
    }

    static func weight(_ weight: Int, by source: String) -> String {
        "weight set to \(weight) by \(source)"
    }
}
