// apiprobe asks each URL given on its command line for a GET over HTTPS, without any
// credentials, and prints "<status code> <url>" per line ("error <url>: <why>" when there is no
// answer). The network isolation tests run it in a tenant's user container to show what the API
// server tells a caller that has no token. The server's certificate is not verified: what is
// tested is authorization, and the container has no CA bundle.
package main

import (
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"
)

func main() {
	client := &http.Client{
		Timeout: 5 * time.Second,
		Transport: &http.Transport{
			TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // see above
			Proxy:           nil,
		},
	}
	failed := false
	for _, url := range os.Args[1:] {
		response, err := client.Get(url)
		if err != nil {
			fmt.Printf("error %s: %v\n", url, err)
			failed = true
			continue
		}
		_, _ = io.Copy(io.Discard, io.LimitReader(response.Body, 1<<20))
		_ = response.Body.Close()
		fmt.Printf("%d %s\n", response.StatusCode, url)
	}
	if failed {
		os.Exit(1)
	}
}
