"""qplane-applications: applications that use delivered pairs (``teleport``, ``chsh``), each
written as one program per node on the small runtime of :mod:`qplane_applications.programs`.
See docs/applications.md."""
