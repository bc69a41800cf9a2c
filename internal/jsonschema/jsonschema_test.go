package jsonschema_test

import (
	"encoding/json"
	"math/big"
	"net"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	js "github.com/google/jsonschema-go/jsonschema"

	"github.com/brisk-rpc/brisk/internal/jsonschema"
)

type Inner struct {
	X int    `json:"x"`
	Y string `json:"y,omitempty"`
}

type Base struct {
	ID   int
	Kind string `json:"kind"`
}

type unexportedBase struct {
	Hidden int // promoted: encoding/json writes it
}

type Everything struct {
	Int      int               `json:"int"`
	Small    int8              `json:"small"`
	Byte     uint8             `json:"byte"`
	Unsigned uint64            `json:"unsigned"`
	Float    float64           `json:"float"`
	Bool     bool              `json:"bool"`
	Str      string            `json:"str,omitempty"`
	Ints     []int             `json:"ints"`
	Fixed    [3]int            `json:"fixed"`
	Map      map[string]Inner  `json:"map"`
	IntKeys  map[int]string    `json:"intKeys"`
	Ptr      *Inner            `json:"ptr"`
	Bytes    []byte            `json:"bytes"`
	When     time.Time         `json:"when"`
	Dur      time.Duration     `json:"dur"`
	Any      any               `json:"any"`
	Raw      json.RawMessage   `json:"raw"`
	IP       net.IP            `json:"ip"`
	Big      *big.Int          `json:"big"`
	Num      json.Number       `json:"num"`
	Quoted   int               `json:"quoted,string"`
	Zero     Inner             `json:"zero,omitzero"`
	Skipped  int               `json:"-"`
	Dash     int               `json:"-,"`
	Untagged int               //
	Chan     chan int          `json:"-"`
	Nested   map[string][]*int `json:"nested"`
	hidden   int
	Base
	unexportedBase
}

type Node struct {
	Value    int     `json:"value"`
	Children []*Node `json:"children,omitempty"`
	Next     *Node   `json:"next"`
}

type Tree map[string]Tree

type A struct{ X, OnlyA int }
type B struct{ X, OnlyB int }
type Tagged struct {
	X int `json:"X"`
}
type Conflict struct {
	A
	B
}
type TaggedWins struct {
	A
	Tagged
}
type ByPointer struct {
	*Base
	Name string
}
type NamedEmbed struct {
	Base `json:"base"`
}
type Twice struct {
	L1
	L2
}
type Shared struct{ ID, Size int }
type L1 struct{ Shared }
type L2 struct{ Shared }
type Bad struct {
	C  chan int
	F  func()
	Z  complex128
	M  map[[2]int]int
	OK int
}

func schemaJSON(t *testing.T, typ reflect.Type) map[string]any {
	t.Helper()
	b, err := json.Marshal(jsonschema.For(typ))
	if err != nil {
		t.Fatalf("marshal schema of %v: %v", typ, err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("schema of %v is not an object: %s", typ, b)
	}
	return m
}

func props(m map[string]any) []string {
	p, _ := m["properties"].(map[string]any)
	var out []string
	for k := range p {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func required(m map[string]any) []string {
	var out []string
	r, _ := m["required"].([]any)
	for _, v := range r {
		out = append(out, v.(string))
	}
	slices.Sort(out)
	return out
}

func TestStructFields(t *testing.T) {
	tests := []struct {
		name     string
		typ      reflect.Type
		props    []string
		required []string
	}{
		{"simple", reflect.TypeFor[Inner](), []string{"x", "y"}, []string{"x"}},
		{"conflict drops the ambiguous name", reflect.TypeFor[Conflict](), []string{"OnlyA", "OnlyB"}, []string{"OnlyA", "OnlyB"}},
		{"tagged field wins", reflect.TypeFor[TaggedWins](), []string{"OnlyA", "X"}, []string{"OnlyA", "X"}},
		{"embedded pointer fields are optional", reflect.TypeFor[ByPointer](), []string{"ID", "Name", "kind"}, []string{"Name"}},
		{"named embedded struct is a field", reflect.TypeFor[NamedEmbed](), []string{"base"}, []string{"base"}},
		{"same type embedded twice at one depth", reflect.TypeFor[Twice](), nil, nil},
		{"unencodable fields accept nothing", reflect.TypeFor[Bad](), []string{"C", "F", "M", "OK", "Z"}, []string{"OK"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := schemaJSON(t, tt.typ)
			if got := props(m); !slices.Equal(got, tt.props) {
				t.Errorf("properties = %v, want %v", got, tt.props)
			}
			if got := required(m); !slices.Equal(got, tt.required) {
				t.Errorf("required = %v, want %v", got, tt.required)
			}
			if m["additionalProperties"] != false {
				t.Errorf("additionalProperties = %v, want false", m["additionalProperties"])
			}
		})
	}
}

// TestMatchesEncodingJSON checks, for types without omitempty fields, that the
// properties are exactly the keys encoding/json writes.
func TestMatchesEncodingJSON(t *testing.T) {
	for _, v := range []any{Inner{}, Conflict{}, TaggedWins{}, ByPointer{Base: &Base{}}, NamedEmbed{}, Twice{}, Node{}} {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		var keys map[string]any
		if err := json.Unmarshal(b, &keys); err != nil {
			t.Fatal(err)
		}
		var want []string
		for k := range keys {
			want = append(want, k)
		}
		slices.Sort(want)
		typ := reflect.TypeOf(v)
		m := schemaJSON(t, typ)
		if defs, ok := m["$defs"].(map[string]any); ok {
			m = defs[typ.Name()].(map[string]any)
		}
		got := props(m)
		for _, k := range want {
			if !slices.Contains(got, k) {
				t.Errorf("%T: encoding/json writes %q, schema has %v", v, k, got)
			}
		}
		if !slices.Equal(got, want) && typ != reflect.TypeFor[Node]() && typ != reflect.TypeFor[Inner]() {
			t.Errorf("%T: properties %v, encoding/json writes %v", v, got, want)
		}
	}
}

func TestPropertySchemas(t *testing.T) {
	p := schemaJSON(t, reflect.TypeFor[Everything]())["properties"].(map[string]any)
	tests := []struct {
		prop string
		want string
	}{
		{"int", `{"type":"integer"}`},
		{"small", `{"type":"integer","minimum":-128,"maximum":127}`},
		{"byte", `{"type":"integer","minimum":0,"maximum":255}`},
		{"unsigned", `{"type":"integer","minimum":0}`},
		{"float", `{"type":"number"}`},
		{"bool", `{"type":"boolean"}`},
		{"str", `{"type":"string"}`},
		{"ints", `{"type":["null","array"],"items":{"type":"integer"}}`},
		{"fixed", `{"type":"array","items":{"type":"integer"},"minItems":3,"maxItems":3}`},
		{"intKeys", `{"type":["null","object"],"additionalProperties":{"type":"string"},"propertyNames":{"pattern":"^-?[0-9]+$"}}`},
		{"ptr", `{"type":["null","object"],"properties":{"x":{"type":"integer"},"y":{"type":"string"}},"required":["x"],"additionalProperties":false}`},
		{"bytes", `{"type":["null","string"],"contentEncoding":"base64"}`},
		{"when", `{"type":"string","format":"date-time"}`},
		{"dur", `{"type":"integer"}`},
		{"any", `true`},
		{"raw", `true`},
		{"ip", `{"type":"string"}`},
		{"big", `true`},
		{"num", `{"type":"number"}`},
		{"quoted", `{"type":"string"}`},
		{"-", `{"type":"integer"}`},
		{"Untagged", `{"type":"integer"}`},
		{"nested", `{"type":["null","object"],"additionalProperties":{"type":["null","array"],"items":{"type":["null","integer"]}}}`},
		{"ID", `{"type":"integer"}`},
		{"Hidden", `{"type":"integer"}`},
	}
	for _, tt := range tests {
		t.Run(tt.prop, func(t *testing.T) {
			got, err := json.Marshal(p[tt.prop])
			if err != nil {
				t.Fatal(err)
			}
			if !jsonEqual(t, got, []byte(tt.want)) {
				t.Errorf("schema of %q = %s, want %s", tt.prop, got, tt.want)
			}
		})
	}
	for _, absent := range []string{"Skipped", "Chan", "hidden", "Base", "unexportedBase"} {
		if _, ok := p[absent]; ok {
			t.Errorf("property %q should be absent", absent)
		}
	}
}

func jsonEqual(t *testing.T, a, b []byte) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		t.Fatalf("%s: %v", a, err)
	}
	if err := json.Unmarshal(b, &y); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	return reflect.DeepEqual(x, y)
}

func resolve(t *testing.T, typ reflect.Type) *js.Resolved {
	t.Helper()
	// Through JSON and back, as a tool receives it.
	b, err := json.Marshal(jsonschema.For(typ))
	if err != nil {
		t.Fatal(err)
	}
	var s js.Schema
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	rs, err := s.Resolve(nil)
	if err != nil {
		t.Fatalf("resolve schema of %v: %v\n%s", typ, err, b)
	}
	return rs
}

func validate(t *testing.T, rs *js.Resolved, doc string) error {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(doc), &v); err != nil {
		t.Fatalf("bad test JSON %s: %v", doc, err)
	}
	return rs.Validate(v)
}

// TestValidatesEncodedValues: whatever encoding/json writes for a value is valid.
func TestValidatesEncodedValues(t *testing.T) {
	n := 7
	values := []any{
		Inner{X: 1},
		Everything{
			Ints: []int{1}, Map: map[string]Inner{"k": {X: 2, Y: "y"}}, IntKeys: map[int]string{-3: "m"},
			Ptr: &Inner{}, Bytes: []byte{0, 1, 2}, When: time.Now(), Any: []any{1, "x"},
			Raw: json.RawMessage(`{"free":[1]}`), IP: net.ParseIP("10.0.0.1"), Big: big.NewInt(5),
			Num: "12.5", Quoted: 42, Nested: map[string][]*int{"a": {&n, nil}},
		},
		Everything{},
		Node{Value: 1, Children: []*Node{{Value: 2, Next: &Node{Value: 3}}}},
		Tree{"a": Tree{"b": nil}},
		ByPointer{Base: &Base{ID: 1}},
		ByPointer{},
		[]Node{{}},
		map[string]*Node{"x": nil},
	}
	for _, v := range values {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		if err := validate(t, resolve(t, reflect.TypeOf(v)), string(b)); err != nil {
			t.Errorf("%T: %s does not validate: %v", v, b, err)
		}
	}
}

func TestRejectsWrongJSON(t *testing.T) {
	tests := []struct {
		typ reflect.Type
		doc string
	}{
		{reflect.TypeFor[Inner](), `{"x":"one"}`},
		{reflect.TypeFor[Inner](), `{"y":"no x"}`},
		{reflect.TypeFor[Inner](), `{"x":1,"extra":true}`},
		{reflect.TypeFor[Inner](), `[1]`},
		{reflect.TypeFor[Node](), `{"value":1,"next":{"value":"deep"}}`},
		{reflect.TypeFor[Node](), `{"value":1,"next":null,"children":[{"value":2,"next":{"value":3,"next":7}}]}`},
		{reflect.TypeFor[Tree](), `{"a":{"b":3}}`},
		{reflect.TypeFor[Bad](), `{"OK":1,"C":5}`},
		{reflect.TypeFor[Everything](), `{"small":300}`},
	}
	for _, tt := range tests {
		if err := validate(t, resolve(t, tt.typ), tt.doc); err == nil {
			t.Errorf("%v accepts %s", tt.typ, tt.doc)
		}
	}
}

func TestRecursiveUsesDefs(t *testing.T) {
	m := schemaJSON(t, reflect.TypeFor[Node]())
	if m["$ref"] != "#/$defs/Node" {
		t.Errorf("$ref = %v, want #/$defs/Node", m["$ref"])
	}
	if m["$schema"] != jsonschema.Draft || m["title"] != "jsonschema_test.Node" {
		t.Errorf("$schema, title = %v, %v", m["$schema"], m["title"])
	}
	b, _ := json.Marshal(m["$defs"])
	if !strings.Contains(string(b), `"next":{"anyOf":[{"type":"null"},{"$ref":"#/$defs/Node"}]}`) {
		t.Errorf("defs: %s", b)
	}
}

func TestNilType(t *testing.T) {
	rs := resolve(t, nil)
	if err := validate(t, rs, `{"anything":[1]}`); err != nil {
		t.Errorf("nil type rejects a value: %v", err)
	}
}
