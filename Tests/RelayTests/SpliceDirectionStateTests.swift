@testable import Relay
import Testing

/// The byte path's rules for one direction, without a socket: held bytes first, EOF passed on
/// only when nothing is held, the budget, and the switch to copying.
@Suite struct SpliceDirectionStateTests {
    @Test func bytesReadBeforeTheHandOverGoOutFirstEvenWhenEOFCameWithThem() {
        var state = SpliceDirectionState(first: Array("early".utf8), inputEnded: true)
        #expect(state.next(moved: 0, budget: 100) == .writeHeld(Array("early".utf8)[...]))
        state.wrote(2)
        #expect(state.next(moved: 0, budget: 100) == .writeHeld(Array("rly".utf8)[...]), "a short write keeps the rest, in order")
        state.wrote(3)
        #expect(state.next(moved: 0, budget: 100) == .passOnEOF)
        state.passedOnEOF()
        #expect(state.next(moved: 0, budget: 100) == .finished)
        #expect(state.isFinished)
    }

    @Test func whatIsInThePipeLeavesItBeforeTheNextRead() {
        var state = SpliceDirectionState(first: [], inputEnded: false)
        #expect(state.next(moved: 0, budget: 100) == .read(splice: true))
        state.splicedIn(64)
        #expect(state.next(moved: 64, budget: 100) == .spliceOut(64))
        state.splicedOut(40)
        #expect(state.next(moved: 64, budget: 100) == .spliceOut(24))
        #expect(state.bytesInPipe == 24)
        state.splicedOut(24)
        #expect(state.next(moved: 64, budget: 100) == .read(splice: true))
    }

    @Test func theBudgetStopsReadingButNeverWritingWhatIsHeld() {
        var state = SpliceDirectionState(first: [], inputEnded: false)
        state.splicedIn(100)
        #expect(state.next(moved: 100, budget: 100) == .spliceOut(100), "held bytes go out even past the budget")
        state.splicedOut(100)
        #expect(state.next(moved: 100, budget: 100) == .yield)
    }

    @Test func eofWaitsForThePipeToEmpty() {
        var state = SpliceDirectionState(first: [], inputEnded: false)
        state.splicedIn(10)
        state.inputReachedEOF()
        #expect(state.next(moved: 10, budget: 100) == .spliceOut(10))
        state.splicedOut(10)
        #expect(state.next(moved: 10, budget: 100) == .passOnEOF)
    }

    @Test func aSocketThatRefusesSpliceIsCopiedFromThenOn() {
        var refusedOut = SpliceDirectionState(first: [], inputEnded: false)
        refusedOut.splicedIn(5)
        refusedOut.spliceOutRefused(pipeHeld: Array("abcde".utf8))
        #expect(refusedOut.mode == .copy && refusedOut.bytesInPipe == 0)
        #expect(refusedOut.next(moved: 5, budget: 100) == .writeHeld(Array("abcde".utf8)[...]))
        refusedOut.wrote(5)
        #expect(refusedOut.next(moved: 5, budget: 100) == .read(splice: false))

        var refusedIn = SpliceDirectionState(first: [], inputEnded: false)
        refusedIn.spliceInRefused()
        #expect(refusedIn.next(moved: 0, budget: 100) == .read(splice: false))
        refusedIn.copied(unwritten: Array("xyz".utf8)[1...])
        #expect(refusedIn.next(moved: 3, budget: 100) == .writeHeld(Array("yz".utf8)[...]))
        refusedIn.copied(unwritten: [])
        #expect(refusedIn.next(moved: 3, budget: 100) == .read(splice: false))
    }

    @Test func aTeardownForgetsWhatTheDiscardedPipeHeld() {
        var state = SpliceDirectionState(first: [], inputEnded: false)
        state.splicedIn(7)
        state.pipeDiscarded()
        #expect(state.bytesInPipe == 0)
        #expect(state.held == .nothing)
    }
}
