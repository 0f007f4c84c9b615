package conntrack

import "fmt"

// State is a tracked connection's state. The zero value is no state (a
// Filter that matches every state).
type State int32

const (
	StateNew         State = iota + 1 // accepted, target not yet connected
	StateEstablished                  // relaying both ways
	StateClosing                      // one side closed, the other still sends
	StateClosed                       // both sides closed; removed from the table
	StateDenied                       // refused by a rule (deny_action applies)
	StateExpired                      // idle timeout passed; the next sender gets an RST
	StateFailed                       // the target was not reached (dial refused, reset, timed out; no port or target): the client got an RST
)

var stateNames = [...]string{"", "new", "established", "closing", "closed", "denied", "expired", "failed"}

func (s State) String() string {
	if s >= 0 && int(s) < len(stateNames) {
		return stateNames[s]
	}
	return fmt.Sprintf("State(%d)", int32(s))
}

// ParseState parses a state name as String writes it.
func ParseState(name string) (State, error) {
	for i, n := range stateNames {
		if n == name && i > 0 {
			return State(i), nil
		}
	}
	return 0, fmt.Errorf("unknown connection state %q (new, established, closing, closed, denied, expired or failed)", name)
}

// MarshalText writes the state's name.
func (s State) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText reads a state's name.
func (s *State) UnmarshalText(b []byte) error {
	v, err := ParseState(string(b))
	*s = v
	return err
}
