package fcadapter

import (
	"errors"
	"testing"
	"time"
)

func TestDecodeTimer(t *testing.T) {
	t.Parallel()
	got, err := DecodeTimer(mustRead(t, "timer.json"))
	if err != nil {
		t.Fatal(err)
	}
	want := Timer{Time: time.Date(2023, 12, 26, 7, 49, 0, 0, time.UTC), Name: "timer-trigger", Payload: "awesome-fc"}
	if got != want {
		t.Errorf("got %+v, want %+v", got, want)
	}
	tests := []struct {
		name, payload string
		want          error
	}{
		{"no time", `{"triggerName":"t"}`, ErrNotTimerEvent},
		{"bad time", `{"triggerTime":"yesterday"}`, ErrMalformedEvent},
		{"array", `[]`, ErrMalformedEvent},
		{"not json", `x`, ErrMalformedEvent},
	}
	for _, tt := range tests {
		if _, err := DecodeTimer([]byte(tt.payload)); !errors.Is(err, tt.want) {
			t.Errorf("%s: got %v, want %v", tt.name, err, tt.want)
		}
	}
}
