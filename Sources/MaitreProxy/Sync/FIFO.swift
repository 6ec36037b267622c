/// A first-in first-out queue over an array: taking from the front moves a read index, and the taken prefix is
/// dropped once it is most of the storage, so each element is moved at most once on average. What Redis answers
/// is matched to what was sent with these (Redis answers in order).
struct FIFO<Element> {
    private var storage: [Element] = []
    private var head = 0

    var count: Int { storage.count - head }
    var isEmpty: Bool { head == storage.count }

    mutating func append(_ element: Element) { storage.append(element) }

    mutating func popFirst() -> Element? {
        guard head < storage.count else { return nil }
        let first = storage[head]
        head += 1
        if head > 64, head * 2 > storage.count {
            storage.removeFirst(head)
            head = 0
        }
        return first
    }

    mutating func removeAll() {
        storage = []
        head = 0
    }
}
