"""Planning: area-ratio fingerprint, the svseg planner, and the typed view of the plans."""
