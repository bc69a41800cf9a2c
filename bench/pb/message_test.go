package pb

import (
	"testing"

	"google.golang.org/protobuf/proto"
)

func TestBenchmarkMessageSize(t *testing.T) {
	if n := len(benchString); n != 54 {
		t.Fatalf("benchmark string is %d bytes, want 54", n)
	}
	m := NewBenchmarkMessage()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) != 581 {
		t.Fatalf("filled message marshals to %d bytes, want 581", len(b))
	}
	if n := proto.Size(m); n != 581 {
		t.Fatalf("proto.Size = %d, want 581", n)
	}
}

func TestSayReply(t *testing.T) {
	args := NewBenchmarkMessage()
	reply := new(BenchmarkMessage)
	SayReply(args, reply)
	if reply.GetField1() != "OK" || reply.GetField2() != 100 {
		t.Fatalf("reply field1=%q field2=%d, want OK, 100", reply.GetField1(), reply.GetField2())
	}
	// Apart from field1 and field2 the reply equals the argument.
	want := NewBenchmarkMessage()
	want.Field1, want.Field2 = proto.String("OK"), proto.Int32(100)
	if !proto.Equal(reply, want) {
		t.Fatalf("reply differs from args beyond field1/field2:\n got %v\nwant %v", reply, want)
	}
	// The reply shares no pointer with args: changing args leaves it as it was.
	*args.Field9, *args.Field3, *args.Field12, *args.Field22 = "changed", 1, false, 1
	if !proto.Equal(reply, want) {
		t.Fatal("reply shares memory with args")
	}
	if n := testing.AllocsPerRun(100, func() { SayReply(args, new(BenchmarkMessage)) }); n > 2 {
		t.Errorf("SayReply allocates %.0f times, want at most 2", n)
	}
}
