package privlinktest

import (
	"reflect"

	"github.com/privlink/privlink/config"
)

// deepCopy copies a configuration so that moving and validating it leave
// the caller's untouched: slices and the structs in them are copied;
// maps and pointers (principals, endpoint policies), which neither
// changes, are shared.
func deepCopy(c *config.Config) *config.Config {
	n := *c
	copySlices(reflect.ValueOf(&n).Elem())
	return &n
}

func copySlices(v reflect.Value) {
	switch v.Kind() {
	case reflect.Slice:
		if v.IsNil() {
			return
		}
		s := reflect.MakeSlice(v.Type(), v.Len(), v.Len())
		reflect.Copy(s, v)
		for i := range s.Len() {
			copySlices(s.Index(i))
		}
		v.Set(s)
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				copySlices(v.Field(i))
			}
		}
	}
}
