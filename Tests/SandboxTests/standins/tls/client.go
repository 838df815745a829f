// TEST-ONLY: Go's net/http (its own TLS and HTTP/2, nobody here wrote them) against the attested
// ingress: the certificate checked against CAFILE for NAME, every dial to 127.0.0.1:PORT.
//   client URL CAFILE   prints "<status> <protocol> <body>"
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
)

func main() {
	target, _ := url.Parse(os.Args[1])
	pem, err := os.ReadFile(os.Args[2])
	if err != nil {
		panic(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(pem)
	transport := &http.Transport{
		TLSClientConfig:   &tls.Config{RootCAs: roots},
		ForceAttemptHTTP2: true,
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, "127.0.0.1:"+target.Port())
		},
	}
	response, err := (&http.Client{Transport: transport}).Get(target.String())
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	body, _ := io.ReadAll(response.Body)
	fmt.Printf("%d %s %s\n", response.StatusCode, response.Proto, body)
}
