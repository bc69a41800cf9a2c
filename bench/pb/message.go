package pb

// benchString is the value of every string field in the rpcx benchmark (54 bytes of UTF-8).
const benchString = "许多往事在眼前一幕一幕，变的那麼模糊"

// benchInt is the value of every integer field in the rpcx benchmark.
const benchInt = 100000

// NewBenchmarkMessage returns the argument of the rpcx benchmark, filled as that benchmark
// fills it: every string field holds benchString, every integer field 100000, every bool
// field true, and field5 is empty. It marshals to 581 bytes.
func NewBenchmarkMessage() *BenchmarkMessage {
	s := func() *string { v := benchString; return &v }
	i := func() *int32 { v := int32(benchInt); return &v }
	b := func() *bool { v := true; return &v }
	i64 := int64(benchInt)
	return &BenchmarkMessage{
		Field1:   s(),
		Field9:   s(),
		Field18:  s(),
		Field80:  b(),
		Field81:  b(),
		Field2:   i(),
		Field3:   i(),
		Field280: i(),
		Field6:   i(),
		Field22:  &i64,
		Field4:   s(),
		Field59:  b(),
		Field7:   s(),
		Field16:  i(),
		Field130: i(),
		Field12:  b(),
		Field17:  b(),
		Field13:  b(),
		Field14:  b(),
		Field104: i(),
		Field100: i(),
		Field101: i(),
		Field102: s(),
		Field103: s(),
		Field29:  i(),
		Field30:  b(),
		Field60:  i(),
		Field271: i(),
		Field272: i(),
		Field150: i(),
		Field23:  i(),
		Field24:  b(),
		Field25:  i(),
		Field78:  b(),
		Field67:  i(),
		Field68:  i(),
		Field128: i(),
		Field129: s(),
		Field131: i(),
	}
}

// replyValues holds the values a reply's optional fields point to, so that filling a reply
// costs one allocation instead of one per field.
type replyValues struct {
	field1                                                                 string
	field2                                                                 int32
	field9, field18, field4, field7, field102, field103, field129          string
	field80, field81, field59, field12, field17, field13, field14, field30 bool
	field24, field78                                                       bool
	field3, field280, field6, field16, field130, field104, field100        int32
	field101, field29, field60, field271, field272, field150, field23      int32
	field25, field67, field68, field128, field131                          int32
	field22                                                                int64
}

// SayReply makes reply the answer of Hello.Say to args: a copy of args with field1 = "OK"
// and field2 = 100. reply must be empty. The copy is deep: reply shares no memory with args
// (strings aside, which are immutable), so a server may reuse args once the handler returns.
func SayReply(args, reply *BenchmarkMessage) {
	v := &replyValues{field1: "OK", field2: 100}
	reply.Field1, reply.Field2 = &v.field1, &v.field2
	str := func(dst **string, src *string, slot *string) {
		if src != nil {
			*slot = *src
			*dst = slot
		}
	}
	i32 := func(dst **int32, src *int32, slot *int32) {
		if src != nil {
			*slot = *src
			*dst = slot
		}
	}
	bl := func(dst **bool, src *bool, slot *bool) {
		if src != nil {
			*slot = *src
			*dst = slot
		}
	}
	str(&reply.Field9, args.Field9, &v.field9)
	str(&reply.Field18, args.Field18, &v.field18)
	str(&reply.Field4, args.Field4, &v.field4)
	str(&reply.Field7, args.Field7, &v.field7)
	str(&reply.Field102, args.Field102, &v.field102)
	str(&reply.Field103, args.Field103, &v.field103)
	str(&reply.Field129, args.Field129, &v.field129)
	bl(&reply.Field80, args.Field80, &v.field80)
	bl(&reply.Field81, args.Field81, &v.field81)
	bl(&reply.Field59, args.Field59, &v.field59)
	bl(&reply.Field12, args.Field12, &v.field12)
	bl(&reply.Field17, args.Field17, &v.field17)
	bl(&reply.Field13, args.Field13, &v.field13)
	bl(&reply.Field14, args.Field14, &v.field14)
	bl(&reply.Field30, args.Field30, &v.field30)
	bl(&reply.Field24, args.Field24, &v.field24)
	bl(&reply.Field78, args.Field78, &v.field78)
	i32(&reply.Field3, args.Field3, &v.field3)
	i32(&reply.Field280, args.Field280, &v.field280)
	i32(&reply.Field6, args.Field6, &v.field6)
	i32(&reply.Field16, args.Field16, &v.field16)
	i32(&reply.Field130, args.Field130, &v.field130)
	i32(&reply.Field104, args.Field104, &v.field104)
	i32(&reply.Field100, args.Field100, &v.field100)
	i32(&reply.Field101, args.Field101, &v.field101)
	i32(&reply.Field29, args.Field29, &v.field29)
	i32(&reply.Field60, args.Field60, &v.field60)
	i32(&reply.Field271, args.Field271, &v.field271)
	i32(&reply.Field272, args.Field272, &v.field272)
	i32(&reply.Field150, args.Field150, &v.field150)
	i32(&reply.Field23, args.Field23, &v.field23)
	i32(&reply.Field25, args.Field25, &v.field25)
	i32(&reply.Field67, args.Field67, &v.field67)
	i32(&reply.Field68, args.Field68, &v.field68)
	i32(&reply.Field128, args.Field128, &v.field128)
	i32(&reply.Field131, args.Field131, &v.field131)
	if args.Field22 != nil {
		v.field22 = *args.Field22
		reply.Field22 = &v.field22
	}
	if len(args.Field5) > 0 {
		reply.Field5 = append([]uint64(nil), args.Field5...)
	}
}
