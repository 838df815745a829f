import NIOConcurrencyHelpers
import NIOCore

/// The records of one stream that the parent has not acknowledged yet, bounded in bytes.
///
/// Writers (the app's output readers, the logger, the boot sequence) never wait: when the
/// budget is exceeded the oldest records go, and one `dropped` record at the front says how
/// many. The sender takes records after the last one it wrote and frees them on the parent's
/// acknowledgement, so a reconnect resends exactly what the parent may have missed.
final class RecordBuffer: @unchecked Sendable {
    let budget: Int
    private let lock = NIOLock()
    // Guarded by `lock`:
    private var records = CircularBuffer<StreamRecord>(initialCapacity: 1024)
    private var bytes = 0
    private var nextSeq: UInt64 = 1
    private var acknowledged: UInt64 = 0
    private var droppedTotal = 0
    private var wakeUp: (@Sendable () -> Void)?
    private var wakeUpPending = false

    init(budget: Int) {
        self.budget = max(budget, 4096)
    }

    /// Called (outside the lock) after new records arrive, once until the next `take`.
    func onAppend(_ wakeUp: @escaping @Sendable () -> Void) {
        lock.withLock { self.wakeUp = wakeUp }
    }

    func append(_ payload: StreamRecord.Payload, time: Int64 = StreamClock.now()) {
        append(CollectionOfOne(payload), time: time)
    }

    /// Appends in order under one lock (a chunk of app output is many lines).
    func append(_ payloads: some Collection<StreamRecord.Payload>, time: Int64 = StreamClock.now()) {
        guard !payloads.isEmpty else { return }
        let wake: (@Sendable () -> Void)? = lock.withLock {
            for payload in payloads {
                let record = StreamRecord(seq: nextSeq, time: time, payload: payload)
                nextSeq += 1
                records.append(record)
                bytes += record.cost
            }
            if bytes > budget { dropOldest() }
            guard !wakeUpPending, let wakeUp else { return nil }
            wakeUpPending = true
            return wakeUp
        }
        wake?()
    }

    /// Up to `maxBytes` (at least one record) of records with seq > `seq`, oldest first.
    func take(after seq: UInt64, maxBytes: Int) -> [StreamRecord] {
        lock.withLock {
            wakeUpPending = false
            var index = firstIndex(after: seq)
            var taken: [StreamRecord] = []
            var size = 0
            while index < records.count, taken.isEmpty || size < maxBytes {
                let record = records[records.index(records.startIndex, offsetBy: index)]
                taken.append(record)
                size += record.cost
                index += 1
            }
            return taken
        }
    }

    /// The parent has everything up to `seq`: those records are freed.
    func acknowledge(upTo seq: UInt64) {
        lock.withLock {
            guard seq > acknowledged else { return }
            acknowledged = min(seq, nextSeq - 1)
            while let first = records.first, first.seq <= acknowledged {
                bytes -= records.removeFirst().cost
            }
        }
    }

    var lastAcknowledged: UInt64 { lock.withLock { acknowledged } }
    /// Nothing is waiting for the parent.
    var isDrained: Bool { lock.withLock { records.isEmpty } }
    var state: (records: Int, bytes: Int, dropped: Int) { lock.withLock { (records.count, bytes, droppedTotal) } }

    // MARK: - Under the lock

    /// Drops from the front until the budget holds again; what went (including an earlier
    /// notice standing at the front) is summed up in one notice that takes the front.
    private func dropOldest() {
        var count = 0
        var firstSeq: UInt64?
        var lastSeq: UInt64 = 0
        while bytes > budget, records.count > 1 {
            let record = records.removeFirst()
            bytes -= record.cost
            lastSeq = record.seq
            if case .dropped(let earlier, let earlierFirst) = record.payload {
                count += earlier
                firstSeq = firstSeq ?? earlierFirst
            } else {
                count += 1
                droppedTotal += 1
                firstSeq = firstSeq ?? record.seq
            }
        }
        guard count > 0, let firstSeq else { return }
        let notice = StreamRecord(seq: lastSeq, time: StreamClock.now(), payload: .dropped(count: count, firstSeq: firstSeq))
        records.prepend(notice)
        bytes += notice.cost
    }

    /// The position of the first record with seq > `seq` (records are in seq order).
    private func firstIndex(after seq: UInt64) -> Int {
        var low = 0
        var high = records.count
        while low < high {
            let middle = (low + high) / 2
            if records[records.index(records.startIndex, offsetBy: middle)].seq <= seq { low = middle + 1 } else { high = middle }
        }
        return low
    }
}
