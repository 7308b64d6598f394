"""One prompt composer per film department; each turns the storyboard, a scene and the continuity
record into the lines of its section."""
