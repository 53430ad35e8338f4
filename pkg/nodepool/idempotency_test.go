package nodepool

import (
	"fmt"
	"testing"
)

func TestDigest(t *testing.T) {
	t.Parallel()
	a := mustDecode(t, "full.json")
	reordered, err := Decode([]byte(`{"NodepoolInfo":{"Name":"` + a.NodepoolInfo.Name + `"},"ClusterId":"` + a.ClusterId + `"}`))
	if err != nil {
		t.Fatal(err)
	}
	b := a.Clone()
	b.ScalingGroup.DesiredSize++
	pw := a.Clone()
	pw.ScalingGroup.KeyPairName, pw.ScalingGroup.Password = "", "Other-Passw0rd"
	pw2 := pw.Clone()
	pw2.ScalingGroup.Password = "Yet-An0ther-one"
	same := &Request{ClusterId: a.ClusterId, NodepoolInfo: a.NodepoolInfo}
	switch {
	case Digest(a) != Digest(a.Clone()):
		t.Error("a clone has another digest")
	case Digest(a) == Digest(b):
		t.Error("DesiredSize does not change the digest")
	case Digest(reordered) != Digest(same):
		t.Error("member order changes the digest")
	case Digest(pw) == Digest(a):
		t.Error("password vs key pair: same digest")
	case Digest(pw) != Digest(pw2):
		t.Error("the password itself is hashed")
	}
}

func TestSeen(t *testing.T) {
	t.Parallel()
	s := NewSeen(3)
	s.Record("req_1", "d1")
	if s.Conflicts("req_1", "d1") || !s.Conflicts("req_1", "d2") || s.Conflicts("req_2", "d2") {
		t.Fatal("Conflicts wrong after one record")
	}
	s.Record("req_1", "d2") // the first record wins
	if !s.Conflicts("req_1", "d2") {
		t.Error("a later record replaced the first")
	}
	for i := 2; i <= 4; i++ {
		s.Record(fmt.Sprintf("req_%d", i), "d")
	}
	if s.Conflicts("req_1", "other") {
		t.Error("the oldest entry was not forgotten at the bound")
	}
	if !s.Conflicts("req_4", "other") {
		t.Error("the newest entry was forgotten")
	}
}
