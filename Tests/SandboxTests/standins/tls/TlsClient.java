// TEST-ONLY: Java's own HttpClient (JDK 11+) against the attested ingress: it offers h2 and
// http/1.1, trusts only the truststore given (-Djavax.net.ssl.trustStore) and resolves NAME from
// the hosts file given (-Djdk.net.hosts.file). Prints "<status> <HTTP version> <body>".
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;

public class TlsClient {
    public static void main(String[] args) throws Exception {
        HttpClient client = HttpClient.newHttpClient();
        HttpRequest request = HttpRequest.newBuilder(URI.create(args[0])).build();
        HttpResponse<String> response = client.send(request, HttpResponse.BodyHandlers.ofString());
        System.out.println(response.statusCode() + " " + response.version() + " " + response.body());
    }
}
