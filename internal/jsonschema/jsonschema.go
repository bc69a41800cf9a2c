// Package jsonschema derives JSON Schemas (draft 2020-12) from Go types by the rules of
// encoding/json, which brisk's JSON codec uses, so that a schema describes the JSON a Go
// peer writes for the type and the server's decoder accepts.
//
// The schemas are github.com/google/jsonschema-go values, so callers can marshal,
// resolve and validate them with that library. Its own ForType is not used: it refuses
// recursive types, describes []byte as an array of integers (encoding/json writes base64
// text), ignores json.Marshaler and encoding.TextMarshaler implementations and the
// ",string" option, and flattens embedded structs that carry a JSON name.
//
// The rules applied:
//   - struct fields as encoding/json selects them: exported fields, json tag names, "-"
//     skipped, promoted fields of embedded structs with the shallowest-wins and
//     tagged-wins conflict rules (an ambiguous name is left out, as encoding/json leaves
//     it out); fields without omitempty or omitzero are required (encoding/json always
//     writes them) except those promoted through an embedded pointer, which may be nil;
//     other properties are not allowed;
//   - pointers, slices and maps may be null; []byte is a base64 string;
//   - time.Time is a date-time string, json.Number a number, json.RawMessage and other
//     json.Marshaler types any value, encoding.TextMarshaler types a string;
//   - maps with string, integer or TextMarshaler keys are objects (integer keys must look
//     like integers); other maps, channels, functions and complex numbers cannot be
//     encoded, so their schema accepts nothing (false);
//   - a type that contains itself (a tree, a linked list) is described once under
//     "$defs" and referred to with "$ref", so recursion ends.
package jsonschema

import (
	"encoding"
	"encoding/json"
	"math"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode"

	js "github.com/google/jsonschema-go/jsonschema"
)

// Draft is the JSON Schema dialect the schemas are written in (their "$schema").
const Draft = "https://json-schema.org/draft/2020-12/schema"

var (
	typeOfTime            = reflect.TypeFor[time.Time]()
	typeOfNumber          = reflect.TypeFor[json.Number]()
	typeOfJSONMarshaler   = reflect.TypeFor[json.Marshaler]()
	typeOfJSONUnmarshaler = reflect.TypeFor[json.Unmarshaler]()
	typeOfTextMarshaler   = reflect.TypeFor[encoding.TextMarshaler]()
	typeOfTextUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// For returns the schema of t's JSON encoding. The root carries "$schema" and, for a type
// defined in a package, a "title" with the Go type's name ("geo.Shape"). For never fails: a type encoding/json cannot
// encode gets a schema that accepts nothing. A nil t gets a schema that accepts anything.
func For(t reflect.Type) *js.Schema {
	if t == nil {
		return &js.Schema{Schema: Draft}
	}
	g := &generator{
		recursive: recursiveTypes(t),
		defNames:  make(map[reflect.Type]string),
		usedNames: make(map[string]bool),
	}
	root := g.schema(t) // a fresh node: nothing else refers to it
	root.Schema = Draft
	if t.Name() != "" && t.PkgPath() != "" {
		root.Title = t.String()
	}
	if len(g.defs) > 0 {
		root.Defs = g.defs
	}
	return root
}

// generator builds one root schema.
type generator struct {
	recursive map[reflect.Type]bool // types described in $defs
	defNames  map[reflect.Type]string
	usedNames map[string]bool
	defs      map[string]*js.Schema
}

// schema returns t's schema.
func (g *generator) schema(t reflect.Type) *js.Schema {
	if t.Kind() == reflect.Pointer {
		return nullable(g.schema(t.Elem()))
	}
	if g.recursive[t] {
		return &js.Schema{Ref: "#/$defs/" + g.define(t)}
	}
	return g.body(t)
}

// define returns the $defs name of a recursive type, describing it on first use.
func (g *generator) define(t reflect.Type) string {
	if name, ok := g.defNames[t]; ok {
		return name
	}
	name := defName(t, g.usedNames)
	g.defNames[t] = name // before the body, which refers to it
	if g.defs == nil {
		g.defs = make(map[string]*js.Schema)
	}
	g.defs[name] = &js.Schema{} // reserves the name
	*g.defs[name] = *g.body(t)
	return name
}

var unsafeDefChars = regexp.MustCompile(`[^A-Za-z0-9_.-]+`)

// defName is a readable $defs key for t, unique within one schema.
func defName(t reflect.Type, used map[string]bool) string {
	base := unsafeDefChars.ReplaceAllString(t.Name(), "_")
	if base == "" {
		base = "type"
	}
	name := base
	for i := 2; used[name]; i++ {
		name = base + "_" + itoa(i)
	}
	used[name] = true
	return name
}

func itoa(i int) string {
	if i < 10 {
		return string(rune('0' + i))
	}
	return itoa(i/10) + string(rune('0'+i%10))
}

// body is t's schema written out (t is not a pointer).
func (g *generator) body(t reflect.Type) *js.Schema {
	switch {
	case t == typeOfTime:
		return &js.Schema{Type: "string", Format: "date-time"}
	case t == typeOfNumber:
		return &js.Schema{Type: "number"}
	case implements(t, typeOfJSONMarshaler, typeOfJSONUnmarshaler):
		return &js.Schema{} // its own encoding: any JSON value
	case implements(t, typeOfTextMarshaler, typeOfTextUnmarshaler):
		return &js.Schema{Type: "string"}
	}
	switch t.Kind() {
	case reflect.Bool:
		return &js.Schema{Type: "boolean"}
	case reflect.Int8:
		return integer(math.MinInt8, math.MaxInt8)
	case reflect.Int16:
		return integer(math.MinInt16, math.MaxInt16)
	case reflect.Int32:
		return integer(math.MinInt32, math.MaxInt32)
	case reflect.Int, reflect.Int64:
		return &js.Schema{Type: "integer"}
	case reflect.Uint8:
		return integer(0, math.MaxUint8)
	case reflect.Uint16:
		return integer(0, math.MaxUint16)
	case reflect.Uint32:
		return integer(0, math.MaxUint32)
	case reflect.Uint, reflect.Uint64, reflect.Uintptr:
		return &js.Schema{Type: "integer", Minimum: js.Ptr(0.0)}
	case reflect.Float32, reflect.Float64:
		return &js.Schema{Type: "number"}
	case reflect.String:
		return &js.Schema{Type: "string"}
	case reflect.Interface:
		return &js.Schema{}
	case reflect.Slice:
		if isBytes(t) {
			return &js.Schema{Types: []string{"null", "string"}, ContentEncoding: "base64"}
		}
		return &js.Schema{Types: []string{"null", "array"}, Items: g.schema(t.Elem())}
	case reflect.Array:
		return &js.Schema{Type: "array", Items: g.schema(t.Elem()), MinItems: js.Ptr(t.Len()), MaxItems: js.Ptr(t.Len())}
	case reflect.Map:
		return g.mapSchema(t)
	case reflect.Struct:
		return g.structSchema(t)
	}
	// Channels, functions, complex numbers, unsafe pointers: encoding/json refuses them.
	return never()
}

// implements reports whether t, or a pointer to it, implements enc or dec.
func implements(t, enc, dec reflect.Type) bool {
	p := reflect.PointerTo(t)
	return t.Implements(enc) || p.Implements(enc) || t.Implements(dec) || p.Implements(dec)
}

// isBytes reports whether encoding/json writes slice type t as base64 text.
func isBytes(t reflect.Type) bool {
	e := t.Elem()
	if e.Kind() != reflect.Uint8 {
		return false
	}
	p := reflect.PointerTo(e)
	return !p.Implements(typeOfJSONMarshaler) && !p.Implements(typeOfTextMarshaler)
}

func integer(min, max float64) *js.Schema {
	return &js.Schema{Type: "integer", Minimum: js.Ptr(min), Maximum: js.Ptr(max)}
}

// never is the schema that accepts nothing.
func never() *js.Schema { return &js.Schema{Not: &js.Schema{}} }

// nullable returns s also accepting null.
func nullable(s *js.Schema) *js.Schema {
	switch {
	case s.Type != "":
		c := *s
		c.Types, c.Type = []string{"null", s.Type}, ""
		return &c
	case s.Types != nil:
		if slices.Contains(s.Types, "null") {
			return s
		}
		c := *s
		c.Types = append([]string{"null"}, s.Types...)
		return &c
	case isTrue(s):
		return s
	}
	return &js.Schema{AnyOf: []*js.Schema{{Type: "null"}, s}}
}

func isTrue(s *js.Schema) bool { return reflect.ValueOf(*s).IsZero() }

// mapSchema describes a map, which encoding/json writes as an object.
func (g *generator) mapSchema(t reflect.Type) *js.Schema {
	k := t.Key()
	s := &js.Schema{Types: []string{"null", "object"}}
	switch {
	case k.Kind() == reflect.String:
	case k.Implements(typeOfTextMarshaler) || reflect.PointerTo(k).Implements(typeOfTextUnmarshaler):
	case isSignedInt(k.Kind()):
		s.PropertyNames = &js.Schema{Pattern: `^-?[0-9]+$`}
	case isUnsignedInt(k.Kind()):
		s.PropertyNames = &js.Schema{Pattern: `^[0-9]+$`}
	default:
		return never()
	}
	s.AdditionalProperties = g.schema(t.Elem())
	return s
}

func isSignedInt(k reflect.Kind) bool {
	return k == reflect.Int || k == reflect.Int8 || k == reflect.Int16 || k == reflect.Int32 || k == reflect.Int64
}

func isUnsignedInt(k reflect.Kind) bool {
	return k == reflect.Uint || k == reflect.Uint8 || k == reflect.Uint16 || k == reflect.Uint32 ||
		k == reflect.Uint64 || k == reflect.Uintptr
}

// structSchema describes a struct as an object of its JSON fields.
func (g *generator) structSchema(t reflect.Type) *js.Schema {
	s := &js.Schema{Type: "object", Properties: map[string]*js.Schema{}, AdditionalProperties: never()}
	for _, f := range jsonFields(t) {
		var fs *js.Schema
		if f.quoted {
			fs = &js.Schema{Type: "string"}
			if f.typ.Kind() == reflect.Pointer {
				fs = nullable(fs)
			}
		} else {
			fs = g.schema(f.typ)
		}
		s.Properties[f.name] = fs
		s.PropertyOrder = append(s.PropertyOrder, f.name)
		if !f.optional && fs.Not == nil {
			s.Required = append(s.Required, f.name)
		}
	}
	return s
}

// field is a struct field as encoding/json sees it.
type field struct {
	name     string
	tagged   bool  // the name comes from a json tag
	index    []int // path through embedded structs
	typ      reflect.Type
	optional bool // omitempty, omitzero, or reached through an embedded pointer
	quoted   bool // the ",string" option on a scalar
}

// embedded is a struct whose fields are promoted, found at some depth.
type embedded struct {
	typ    reflect.Type
	index  []int
	viaPtr bool
}

// jsonFields lists the fields encoding/json encodes for struct type t, in field order,
// applying its rules for promoted fields: the shallowest field of a name wins; among
// several at that depth, a single tagged one wins; otherwise the name is left out.
func jsonFields(t reflect.Type) []field {
	var all []field
	visited := map[reflect.Type]bool{}
	next := []embedded{{typ: t}}
	for len(next) > 0 {
		current := next
		next = nil
		count := map[reflect.Type]int{}
		for _, e := range current {
			count[e.typ]++
		}
		for _, e := range current {
			if visited[e.typ] {
				continue
			}
			visited[e.typ] = true
			for i := 0; i < e.typ.NumField(); i++ {
				sf := e.typ.Field(i)
				ft := sf.Type
				isPtr := false
				if ft.Name() == "" && ft.Kind() == reflect.Pointer {
					ft, isPtr = ft.Elem(), true
				}
				if sf.Anonymous {
					if !sf.IsExported() && ft.Kind() != reflect.Struct {
						continue
					}
				} else if !sf.IsExported() {
					continue
				}
				tag := sf.Tag.Get("json")
				if tag == "-" {
					continue
				}
				name, opts, _ := strings.Cut(tag, ",")
				if !validTagName(name) {
					name = ""
				}
				index := append(slices.Clone(e.index), i)
				if name == "" && sf.Anonymous && ft.Kind() == reflect.Struct {
					next = append(next, embedded{typ: ft, index: index, viaPtr: e.viaPtr || isPtr})
					continue
				}
				f := field{name: name, tagged: name != "", index: index, typ: sf.Type, optional: e.viaPtr}
				if f.name == "" {
					f.name = sf.Name
				}
				for _, o := range strings.Split(opts, ",") {
					switch o {
					case "omitempty", "omitzero":
						f.optional = true
					case "string":
						f.quoted = isScalar(ft.Kind())
					}
				}
				all = append(all, f)
				if count[e.typ] > 1 {
					// The type is embedded twice at this depth: its fields are ambiguous.
					all = append(all, f)
				}
			}
		}
	}
	byName := map[string][]field{}
	for _, f := range all {
		byName[f.name] = append(byName[f.name], f)
	}
	var out []field
	for _, fs := range byName {
		if f, ok := dominant(fs); ok {
			out = append(out, f)
		}
	}
	slices.SortFunc(out, func(a, b field) int { return slices.Compare(a.index, b.index) })
	return out
}

// dominant picks the field encoding/json uses among fields of one name.
func dominant(fs []field) (field, bool) {
	depth := len(fs[0].index)
	for _, f := range fs {
		depth = min(depth, len(f.index))
	}
	var top, tagged []field
	for _, f := range fs {
		if len(f.index) == depth {
			top = append(top, f)
			if f.tagged {
				tagged = append(tagged, f)
			}
		}
	}
	switch {
	case len(top) == 1:
		return top[0], true
	case len(tagged) == 1:
		return tagged[0], true
	}
	return field{}, false
}

func isScalar(k reflect.Kind) bool {
	return k == reflect.Bool || k == reflect.String || k == reflect.Float32 || k == reflect.Float64 ||
		isSignedInt(k) || isUnsignedInt(k)
}

// validTagName reports whether encoding/json accepts name from a json tag.
func validTagName(name string) bool {
	if name == "" {
		return false
	}
	for _, c := range name {
		switch {
		case strings.ContainsRune("!#$%&()*+-./:;<=>?@[]^_{|}~ ", c):
		case !unicode.IsLetter(c) && !unicode.IsDigit(c):
			return false
		}
	}
	return true
}

// recursiveTypes returns the types reachable from t that contain themselves.
func recursiveTypes(t reflect.Type) map[reflect.Type]bool {
	rec := map[reflect.Type]bool{}
	onStack := map[reflect.Type]bool{}
	done := map[reflect.Type]bool{}
	var walk func(t reflect.Type)
	walk = func(t reflect.Type) {
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		if onStack[t] {
			rec[t] = true
			return
		}
		if done[t] {
			return
		}
		switch {
		case t == typeOfTime || t == typeOfNumber,
			implements(t, typeOfJSONMarshaler, typeOfJSONUnmarshaler),
			implements(t, typeOfTextMarshaler, typeOfTextUnmarshaler):
			return // described without looking inside
		}
		onStack[t] = true
		switch t.Kind() {
		case reflect.Slice, reflect.Array:
			walk(t.Elem())
		case reflect.Map:
			walk(t.Elem())
		case reflect.Struct:
			for _, f := range jsonFields(t) {
				walk(f.typ)
			}
		}
		delete(onStack, t)
		done[t] = true
	}
	walk(t)
	return rec
}
