// Package testkit is the support the tests share: the MNS and ENS
// simulators in-process with clients for them (StartMNS, StartENS), an
// injectable Clock, a HangingHost, a goroutine-safe SyncBuffer, polling
// waits (WaitFor, Eventually), the goroutine-leak check every package's
// TestMain runs (VerifyTestMain, LeakOptions), and the local stack
// (pkg/dev/localstack) on free ports with prebuilt function binaries
// (BuildBinaries, Config, Start) with fresh Secrets, the sample request
// and grouping of received callbacks (ByName), and the shell recipes of
// the documentation, read (Recipes) and run as written (RunRecipe).
//
// It is imported only by tests; it is a non-test package so that tests of
// several packages can share it. Tests inside the packages it imports
// (localstack, the simulators, mns, ens, callback, config…) use it from an
// external _test package.
package testkit
