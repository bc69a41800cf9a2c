package discovery

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
)

// ErrInvalidMetadata is wrapped by every error ParseMetadata returns.
var ErrInvalidMetadata = errors.New("discovery: invalid server metadata")

// Metadata is a server's registration metadata, parsed. The zero value is not the default;
// ParseMetadata("") is.
type Metadata struct {
	// Weight is the server's share in weighted selection (metadata key "weight", default 1).
	// Zero is valid and means the server gets no weighted traffic.
	Weight int
	// Groups lists the groups the server belongs to (key "group", repeatable), in the order
	// written; empty values are left out.
	Groups []string
	// Inactive reports state=inactive: the server is being drained and takes no new calls.
	Inactive bool
	// Latitude and Longitude locate the server for geographic selection (keys "latitude"
	// and "longitude", in degrees); they are set only when HasGeo is.
	Latitude, Longitude float64
	// HasGeo reports that both latitude and longitude were given and valid.
	HasGeo bool
	// Values holds every key, including the ones above, for custom selectors. It is never
	// nil. Treat it as read-only: lists share it.
	Values url.Values
}

// InGroup reports whether the server belongs to group.
func (m Metadata) InGroup(group string) bool {
	return slices.Contains(m.Groups, group)
}

// ParseMetadata parses a metadata string in URL-query form, such as
// "weight=10&group=a&group=b&state=inactive&latitude=48.85&longitude=2.35".
//
// Errors: a string that is not a valid query, a weight that is not a non-negative integer,
// a latitude or longitude that is not a number in range, or only one of the two. As with
// url.ParseQuery, the Metadata returned with an error is still usable: the keys that parsed
// are set, and a field whose value was bad keeps its default (so a client may choose to use
// such a server anyway, as rpcx does). When a key is repeated, the first value counts
// (except group).
func ParseMetadata(s string) (Metadata, error) {
	values, qerr := url.ParseQuery(s)
	m := Metadata{Weight: 1, Values: values}
	var errs []error
	if qerr != nil {
		errs = append(errs, qerr)
	}
	if vs, ok := values["weight"]; ok {
		w, err := strconv.Atoi(vs[0])
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("weight %q is not an integer", vs[0]))
		case w < 0:
			errs = append(errs, fmt.Errorf("weight %d is negative", w))
		default:
			m.Weight = w
		}
	}
	for _, g := range values["group"] {
		if g != "" {
			m.Groups = append(m.Groups, g)
		}
	}
	m.Inactive = values.Get("state") == "inactive"

	lat, latOK, err := parseDegrees(values, "latitude", 90)
	if err != nil {
		errs = append(errs, err)
	}
	lon, lonOK, err := parseDegrees(values, "longitude", 180)
	if err != nil {
		errs = append(errs, err)
	}
	switch {
	case latOK && lonOK:
		m.Latitude, m.Longitude, m.HasGeo = lat, lon, true
	case latOK:
		errs = append(errs, errors.New("latitude without longitude"))
	case lonOK:
		errs = append(errs, errors.New("longitude without latitude"))
	}

	if len(errs) > 0 {
		return m, fmt.Errorf("%w %q: %w", ErrInvalidMetadata, s, errors.Join(errs...))
	}
	return m, nil
}

// parseDegrees reads key as a number in [-limit, limit]; ok reports a valid value.
func parseDegrees(values url.Values, key string, limit float64) (v float64, ok bool, err error) {
	vs, present := values[key]
	if !present {
		return 0, false, nil
	}
	v, err = strconv.ParseFloat(vs[0], 64)
	if err != nil || !(v >= -limit && v <= limit) { // also rejects NaN
		return 0, false, fmt.Errorf("%s %q is not a number from %g to %g", key, vs[0], -limit, limit)
	}
	return v, true, nil
}
