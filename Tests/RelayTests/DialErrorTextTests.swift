import Addressing
import Glibc
import NIOCore
import Testing
@testable import Relay

@Suite struct DialErrorTextTests {
    struct Other: Error, CustomStringConvertible {
        var description: String { "cannot resolve gone.example" }
    }

    @Test func aFailedDialReadsAsTheSystemSaysIt() {
        #expect(DialErrorText.describe(IOError(errnoCode: ECONNREFUSED, reason: "connect(descriptor:addr:size:)")) == "Connection refused")
        #expect(DialErrorText.describe(ChannelError.connectTimeout(.milliseconds(250))) == "no answer within 250 ms")
        #expect(DialErrorText.describe(Other()) == "cannot resolve gone.example")
        let both = RelayError.unreachable(attempts: [(.tcp(host: "::1", port: 80), IOError(errnoCode: ECONNREFUSED, reason: "connect")),
                                          (.tcp(host: "127.0.0.1", port: 80), ChannelError.connectTimeout(.seconds(5)))])
        #expect(both.description == "tcp:[::1]:80: Connection refused; tcp:127.0.0.1:80: no answer within 5000 ms")
    }
}
