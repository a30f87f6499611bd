package engine

// EventGuessesWrong is how many events batches the tests had planned again because
// the backfill guess was wrong: found by the insert, and by the check (see noneStored).
func EventGuessesWrong() (byInsert, byCheck int64) {
	return eventGuessesWrong[0].Load(), eventGuessesWrong[1].Load()
}
