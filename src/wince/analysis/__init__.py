"""Analysis: turn stored outcomes into a sensitivity profile, with statistics by default."""
