"""The translate task: teacher-forced loss, greedy decoding, exact match and character accuracy."""
