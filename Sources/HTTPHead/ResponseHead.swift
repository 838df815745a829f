/// A response head enclave-init reads as a client (KMS's answers, IMDS's): the status and the
/// header fields, split by the same rules as a request head.
public struct ResponseHead: Sendable {
    public var status: Int
    public var headers: [(name: String, value: String)]

    public init(status: Int, headers: [(name: String, value: String)]) {
        self.status = status
        self.headers = headers
    }

    /// `head` ends with the empty line ("\r\n\r\n"); nil and a reason when it is not a
    /// response head.
    public static func parse(_ head: ArraySlice<UInt8>) -> Result<ResponseHead, RequestHead.Rejection> {
        func bad(_ reason: String) -> Result<ResponseHead, RequestHead.Rejection> { .failure(.init(status: 502, reason: reason)) }
        guard head.count >= 4, head.suffix(4).elementsEqual(HeadReader.terminator),
              let lines = RequestHead.crlfLines(head.dropLast(4)), let statusLine = lines.first else {
            return bad("a bare CR or LF in the answer's head")
        }
        guard let status = HTTPResponse.status(of: Array(statusLine.utf8)) else { return bad("status line \"\(statusLine.prefix(80))\"") }
        var headers: [(name: String, value: String)] = []
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { return bad("header line \"\(line.prefix(80))\"") }
            headers.append((String(line[..<colon]), String(line[line.index(after: colon)...].trimmingSpaces)))
        }
        return .success(ResponseHead(status: status, headers: headers))
    }

    /// The first value of a header field, by name in any case.
    public func value(of name: String) -> String? {
        let lower = name.lowercased()
        return headers.first { $0.name.lowercased() == lower }?.value
    }
}
