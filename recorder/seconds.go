package recorder

import (
	"strconv"
	"time"
)

// Seconds is a duration that JSON carries as seconds with millisecond precision ("t": 12.345),
// which is what a lesson player's <video>.currentTime speaks.
type Seconds time.Duration

// D converts back to a time.Duration.
func (s Seconds) D() time.Duration { return time.Duration(s) }

func (s Seconds) MarshalJSON() ([]byte, error) {
	return strconv.AppendFloat(nil, time.Duration(s).Seconds(), 'f', 3, 64), nil
}

func (s *Seconds) UnmarshalJSON(b []byte) error {
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil {
		return err
	}
	*s = Seconds(time.Duration(f * float64(time.Second)).Round(time.Millisecond))
	return nil
}
