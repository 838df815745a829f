import Addressing
import NIOCore
import NIOPosix
import Services
import Testing

/// The list that starts a half's services: in order, stopped in reverse, and a failure stops
/// what had started. Test doubles record what happened to them in one shared journal.
@Suite struct RunningServicesTests {
    final class Journal: @unchecked Sendable {
        var entries: [String] = []
    }

    final class Double: Service {
        struct Refused: Error, CustomStringConvertible { var description: String { "Address already in use (errno: 98)" } }
        let name: String
        let journal: Journal
        let fails: Bool
        init(_ name: String, _ journal: Journal, fails: Bool = false) {
            self.name = name
            self.journal = journal
            self.fails = fails
        }
        var listening: [Listening] { [Listening("\(name) vsock:any:9000", address: .vsock(port: 9000), emulation: nil)] }
        func start() throws {
            journal.entries.append("start \(name)")
            if fails { throw Refused() }
        }
        func stop() { journal.entries.append("stop \(name)") }
    }

    @Test func servicesStartInOrderAndStopInReverse() throws {
        let journal = Journal()
        let running = try RunningServices.start(["relays", "dns", "control"].map { Double($0, journal) })
        #expect(running.listening.map(\.description) == ["relays vsock:any:9000", "dns vsock:any:9000", "control vsock:any:9000"])
        running.stop()
        #expect(journal.entries == ["start relays", "start dns", "start control", "stop control", "stop dns", "stop relays"])
        running.stop()
        #expect(journal.entries.count == 6, "a second stop stops nothing twice")
    }

    @Test func aServiceThatCannotStartStopsThoseBeforeItAndIsNamed() {
        let journal = Journal()
        let services = [Double("relays", journal), Double("attestation", journal), Double("dns", journal, fails: true), Double("control", journal)]
        #expect {
            try RunningServices.start(services)
        } throws: { error in
            "\(error)" == "cannot listen on dns vsock:any:9000: Address already in use (errno: 98)"
        }
        #expect(journal.entries == ["start relays", "start attestation", "start dns", "stop attestation", "stop relays"])
    }

    @Test func stopCanLeaveOneRunning() throws {
        let journal = Journal()
        let control = Double("control", journal)
        let running = try RunningServices.start([Double("relays", journal), control])
        running.stop(except: control)
        #expect(journal.entries == ["start relays", "start control", "stop relays"])
        #expect(running.services.count == 1 && running.services[0] === control)
    }

    @Test func anEmulatedAddressIsSaidWithItsSocket() {
        let emulation = VsockEmulation(directory: "/tmp/vs", localCID: 3)
        let listening = Listening("clock vsock:any:9103", address: .vsock(port: 9103), emulation: emulation)
        #expect(listening.withEmulation == "clock vsock:any:9103 (emulated: unix:/tmp/vs/3-9103)")
        #expect(Listening("dns stub 127.0.0.1:53", address: .tcp(host: "127.0.0.1", port: 53), emulation: emulation).emulated == nil)
    }

    /// A stopped service's accepted connections close with it: the shared loops never shut down.
    @Test func acceptedChannelsCloseWhenTheServiceStops() throws {
        let accepted = AcceptedChannels()
        let server = try ServerBootstrap(group: EventLoops.shared)
            .childChannelInitializer { channel in
                accepted.track(channel)
                return channel.eventLoop.makeSucceededVoidFuture()
            }
            .bind(host: "127.0.0.1", port: 0).wait()
        let client = try ClientBootstrap(group: EventLoops.shared).connect(to: server.localAddress!).wait()
        var waited = 0
        while accepted.count < 1 && waited < 500 { usleep(10_000); waited += 1 }
        #expect(accepted.count == 1)
        try server.close().wait()
        accepted.closeAll()
        #expect(accepted.count == 0)
        try client.closeFuture.wait() // the peer's close reaches the client
    }
}
