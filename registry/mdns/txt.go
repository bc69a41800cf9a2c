package mdns

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strings"
)

// maxTXTString is the longest character-string a DNS TXT record can hold.
const maxTXTString = 255

// maxTXT bounds the whole escaped value: RFC 6762 section 17 keeps mDNS messages under
// 9000 bytes, and the SRV, PTR and address records need room too.
const maxTXT = 8000

// serviceMeta is one element of the TXT value, with the field names rpcx uses.
type serviceMeta struct {
	Service        string `json:"service,omitempty"`
	Meta           string `json:"meta,omitempty"`
	ServiceAddress string `json:"service_address,omitempty"`
}

// wireMeta is what the decoder accepts: the current names, and the untagged ones older
// rpcx releases wrote ("Service" and "Meta" match the tags case-insensitively;
// "ServiceAddress" needs its own field).
type wireMeta struct {
	Service        string `json:"service"`
	Meta           string `json:"meta"`
	ServiceAddress string `json:"service_address"`
	LegacyAddress  string `json:"ServiceAddress"`
}

// encodeTXT returns the strings of the TXT record that advertises services (service ->
// metadata) at address: the URL-query-escaped JSON array rpcx reads, split into 255-byte
// character-strings when it is longer (rpcx reads only the first string, so an rpcx client
// sees such a server only while its value fits in one).
func encodeTXT(address string, services map[string]string) ([]string, error) {
	names := make([]string, 0, len(services))
	for name := range services {
		names = append(names, name)
	}
	sort.Strings(names)
	list := make([]serviceMeta, 0, len(names))
	for _, name := range names {
		list = append(list, serviceMeta{Service: name, Meta: services[name], ServiceAddress: address})
	}
	raw, err := json.Marshal(list)
	if err != nil {
		return nil, err
	}
	value := url.QueryEscape(string(raw))
	if len(value) > maxTXT {
		return nil, fmt.Errorf("mdns: %d services make a %d-byte TXT record, more than an mDNS message holds (%d)",
			len(services), len(value), maxTXT)
	}
	var out []string
	for len(value) > maxTXTString {
		out = append(out, value[:maxTXTString])
		value = value[maxTXTString:]
	}
	return append(out, value), nil
}

// decodeTXT parses the TXT record of a server received from the network. It joins the
// character-strings, unescapes and decodes the JSON array, and returns its well-formed
// elements; elements without a service or an address, or of the wrong shape, are skipped
// and reported in the error (which is non-nil also when nothing could be decoded).
func decodeTXT(txt []string) ([]serviceMeta, error) {
	value := strings.Join(txt, "")
	if value == "" {
		return nil, errors.New("mdns: empty TXT record")
	}
	unescaped, err := url.QueryUnescape(value)
	if err != nil {
		return nil, fmt.Errorf("mdns: TXT record is not URL-query-escaped: %w", err)
	}
	var elems []json.RawMessage
	if err := json.Unmarshal([]byte(unescaped), &elems); err != nil {
		return nil, fmt.Errorf("mdns: TXT record is not a JSON array: %w", err)
	}
	var (
		out  []serviceMeta
		errs []error
	)
	for i, elem := range elems {
		var m wireMeta
		if err := json.Unmarshal(elem, &m); err != nil {
			errs = append(errs, fmt.Errorf("mdns: TXT element %d: %w", i, err))
			continue
		}
		if m.ServiceAddress == "" {
			m.ServiceAddress = m.LegacyAddress
		}
		if m.Service == "" || m.ServiceAddress == "" {
			errs = append(errs, fmt.Errorf("mdns: TXT element %d has no service or no address", i))
			continue
		}
		out = append(out, serviceMeta{Service: m.Service, Meta: m.Meta, ServiceAddress: m.ServiceAddress})
	}
	return out, errors.Join(errs...)
}
