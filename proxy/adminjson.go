package proxy

import (
	"encoding"
	"encoding/json"
	"reflect"
)

var (
	jsonMarshaler = reflect.TypeFor[json.Marshaler]()
	textMarshaler = reflect.TypeFor[encoding.TextMarshaler]()
)

// jsonLists returns v with every nil slice in it replaced by an empty one,
// so that the admin API answers [] for an empty list, never null. v is not
// modified: what holds a slice is copied. Types with their own JSON or
// text encoding are left as they are.
func jsonLists(v any) any {
	if v == nil {
		return nil
	}
	return emptyLists(reflect.ValueOf(v)).Interface()
}

func emptyLists(v reflect.Value) reflect.Value {
	t := v.Type()
	if encodesItself(t) {
		return v
	}
	switch v.Kind() {
	case reflect.Slice:
		return sliceLists(v)
	case reflect.Struct:
		out := reflect.New(t).Elem()
		out.Set(v)
		for i := range t.NumField() {
			if t.Field(i).IsExported() {
				out.Field(i).Set(emptyLists(v.Field(i)))
			}
		}
		return out
	case reflect.Pointer:
		if v.IsNil() {
			return v
		}
		p := reflect.New(t.Elem())
		p.Elem().Set(emptyLists(v.Elem()))
		return p
	case reflect.Map:
		if v.IsNil() {
			return v
		}
		out := reflect.MakeMapWithSize(t, v.Len())
		for it := v.MapRange(); it.Next(); {
			out.SetMapIndex(it.Key(), emptyLists(it.Value()))
		}
		return out
	case reflect.Interface:
		if v.IsNil() {
			return v
		}
		out := reflect.New(t).Elem()
		out.Set(emptyLists(v.Elem()))
		return out
	}
	return v
}

// sliceLists makes a nil slice empty and copies a slice whose elements
// may hold slices.
func sliceLists(v reflect.Value) reflect.Value {
	t := v.Type()
	if t.Elem().Kind() == reflect.Uint8 { // []byte: base64, not a list
		return v
	}
	if v.IsNil() {
		return reflect.MakeSlice(t, 0, 0)
	}
	switch t.Elem().Kind() {
	case reflect.Struct, reflect.Slice, reflect.Pointer, reflect.Map, reflect.Interface:
	default:
		return v
	}
	out := reflect.MakeSlice(t, v.Len(), v.Len())
	for i := range v.Len() {
		out.Index(i).Set(emptyLists(v.Index(i)))
	}
	return out
}

func encodesItself(t reflect.Type) bool {
	pt := reflect.PointerTo(t)
	return t.Implements(jsonMarshaler) || t.Implements(textMarshaler) || pt.Implements(jsonMarshaler) || pt.Implements(textMarshaler)
}
