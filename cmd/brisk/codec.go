package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/brisk-rpc/brisk/protocol"
)

// Codecs of the command line (shared with bench.go):
//
//	st, err := parseCodec("msgpack")             // --codec value → serialize type
//	payload, err := encodeJSONArgs(input, st)    // JSON text → request payload
//	out, err := replyToJSON(reply, st)           // reply payload → JSON text (raw: as is)
//
// JSON is sent as given (validated and compacted). For msgpack the JSON is decoded
// generically (objects, arrays, strings, booleans, null; integers as int64 when they fit,
// other numbers as float64) and encoded with msgpack, so struct arguments match by field
// name as rpcx's msgpack codec does. raw sends the bytes as they are. Protobuf and thrift
// need the message's Go type, which the command does not have: they are refused.

// codecNames lists the --codec values.
const codecNames = "json, msgpack, raw"

// parseCodec returns the serialize type of a --codec value.
func parseCodec(name string) (protocol.SerializeType, error) {
	switch strings.ToLower(name) {
	case "json", "":
		return protocol.JSON, nil
	case "msgpack", "messagepack":
		return protocol.MsgPack, nil
	case "raw", "none":
		return protocol.SerializeNone, nil
	case "protobuf", "proto", "pb", "thrift":
		return 0, usageErrorf("--codec %s: encoding a %s message needs its Go type, which brisk call does not have; "+
			"use --codec raw with the encoded bytes on stdin, or call a JSON or msgpack method", name, name)
	}
	return 0, usageErrorf("unknown --codec %q (want %s)", name, codecNames)
}

// encodeJSONArgs turns the JSON argument text into a payload of serialize type st. Empty
// (or blank) input means {} for json and msgpack.
func encodeJSONArgs(input []byte, st protocol.SerializeType) ([]byte, error) {
	if st == protocol.SerializeNone {
		return input, nil
	}
	input = bytes.TrimSpace(input)
	if len(input) == 0 {
		input = []byte("{}")
	}
	switch st {
	case protocol.JSON:
		var buf bytes.Buffer
		if err := json.Compact(&buf, input); err != nil {
			return nil, usageErrorf("arguments are not valid JSON: %w", err)
		}
		return buf.Bytes(), nil
	case protocol.MsgPack:
		v, err := decodeJSONGeneric(input)
		if err != nil {
			return nil, usageErrorf("arguments are not valid JSON: %w", err)
		}
		b, err := msgpack.Marshal(v)
		if err != nil {
			return nil, usageErrorf("arguments: %w", err)
		}
		return b, nil
	}
	return nil, usageErrorf("cannot encode JSON arguments as %s", st)
}

// decodeJSONGeneric decodes one JSON value with integers kept exact.
func decodeJSONGeneric(input []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(input))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("unexpected data after the JSON value")
	}
	return numbersToGo(v), nil
}

// numbersToGo replaces json.Numbers by int64 (or uint64) when integral, float64 otherwise.
func numbersToGo(v any) any {
	switch x := v.(type) {
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return i
		}
		if u, err := strconv.ParseUint(x.String(), 10, 64); err == nil {
			return u
		}
		f, _ := x.Float64()
		return f
	case map[string]any:
		for k, e := range x {
			x[k] = numbersToGo(e)
		}
	case []any:
		for i, e := range x {
			x[i] = numbersToGo(e)
		}
	}
	return v
}

// replyToJSON renders a reply payload of serialize type st as indented JSON (followed by a
// newline). A JSON reply that does not parse, and a raw reply, are returned as they are.
func replyToJSON(reply []byte, st protocol.SerializeType) ([]byte, error) {
	switch st {
	case protocol.SerializeNone:
		return reply, nil
	case protocol.JSON:
		if len(bytes.TrimSpace(reply)) == 0 {
			return []byte("null\n"), nil
		}
		var buf bytes.Buffer
		if err := json.Indent(&buf, reply, "", "  "); err != nil {
			return reply, nil
		}
		buf.WriteByte('\n')
		return buf.Bytes(), nil
	case protocol.MsgPack:
		if len(reply) == 0 {
			return []byte("null\n"), nil
		}
		dec := msgpack.NewDecoder(bytes.NewReader(reply))
		// Maps may have keys of any type (a Go map[int]T); jsonSafe formats them.
		dec.SetMapDecoder(func(d *msgpack.Decoder) (any, error) { return d.DecodeUntypedMap() })
		var v any
		if err := dec.Decode(&v); err != nil {
			return nil, fmt.Errorf("decoding the msgpack reply: %w", err)
		}
		b, err := json.MarshalIndent(jsonSafe(v), "", "  ")
		if err != nil {
			return nil, fmt.Errorf("rendering the msgpack reply as JSON: %w", err)
		}
		return append(b, '\n'), nil
	}
	return reply, nil
}

// jsonSafe converts what msgpack decodes generically into values encoding/json accepts:
// maps with non-string keys get their keys formatted, NaN and infinities become strings.
func jsonSafe(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = jsonSafe(e)
		}
		return x
	case map[any]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[fmt.Sprint(k)] = jsonSafe(e)
		}
		return m
	case []any:
		for i, e := range x {
			x[i] = jsonSafe(e)
		}
		return x
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return fmt.Sprint(x)
		}
	case float32:
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			return fmt.Sprint(x)
		}
	}
	return v
}
