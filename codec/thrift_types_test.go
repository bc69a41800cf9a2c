package codec_test

import (
	"context"
	"fmt"

	"github.com/apache/thrift/lib/go/thrift"
)

// Pair is the Thrift struct
//
//	struct Pair { 1: i32 A, 2: i32 B }
//
// written by hand against the apache thrift protocol API, as the Thrift compiler would.
type Pair struct {
	A int32
	B int32
}

var _ thrift.TStruct = (*Pair)(nil)

func (p *Pair) Write(ctx context.Context, out thrift.TProtocol) error {
	if err := out.WriteStructBegin(ctx, "Pair"); err != nil {
		return err
	}
	for _, f := range []struct {
		name string
		id   int16
		v    int32
	}{{"A", 1, p.A}, {"B", 2, p.B}} {
		if err := out.WriteFieldBegin(ctx, f.name, thrift.I32, f.id); err != nil {
			return err
		}
		if err := out.WriteI32(ctx, f.v); err != nil {
			return err
		}
		if err := out.WriteFieldEnd(ctx); err != nil {
			return err
		}
	}
	if err := out.WriteFieldStop(ctx); err != nil {
		return err
	}
	return out.WriteStructEnd(ctx)
}

func (p *Pair) Read(ctx context.Context, in thrift.TProtocol) error {
	if _, err := in.ReadStructBegin(ctx); err != nil {
		return err
	}
	for {
		_, typ, id, err := in.ReadFieldBegin(ctx)
		if err != nil {
			return err
		}
		if typ == thrift.STOP {
			break
		}
		switch {
		case id == 1 && typ == thrift.I32:
			p.A, err = in.ReadI32(ctx)
		case id == 2 && typ == thrift.I32:
			p.B, err = in.ReadI32(ctx)
		default:
			err = in.Skip(ctx, typ)
		}
		if err != nil {
			return fmt.Errorf("field %d: %w", id, err)
		}
		if err := in.ReadFieldEnd(ctx); err != nil {
			return err
		}
	}
	return in.ReadStructEnd(ctx)
}

// failingStruct is a TStruct whose Write fails.
type failingStruct struct{}

func (failingStruct) Write(context.Context, thrift.TProtocol) error { return errWriteFailed }
func (failingStruct) Read(context.Context, thrift.TProtocol) error  { return errWriteFailed }

var errWriteFailed = fmt.Errorf("write failed on purpose")
