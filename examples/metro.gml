# A fictional metropolitan quantum network: a ring of ten points of presence (9-13 km apart)
# with two chords across it, and spurs of 3-15 km to the sites that use it. Lengths in km.
# Read by examples/metro.yaml through the 'file' topology builder.
graph [
  node [
    id 0
    label "Central"
  ]
  node [
    id 1
    label "Harbour"
  ]
  node [
    id 2
    label "Docklands"
  ]
  node [
    id 3
    label "Eastgate"
  ]
  node [
    id 4
    label "Riverside"
  ]
  node [
    id 5
    label "Southbank"
  ]
  node [
    id 6
    label "Westfield"
  ]
  node [
    id 7
    label "Parkside"
  ]
  node [
    id 8
    label "Northpoint"
  ]
  node [
    id 9
    label "Uptown"
  ]
  node [
    id 10
    label "Bank-HQ"
  ]
  node [
    id 11
    label "Exchange"
  ]
  node [
    id 12
    label "Port"
  ]
  node [
    id 13
    label "DataCentre-1"
  ]
  node [
    id 14
    label "Gov"
  ]
  node [
    id 15
    label "Telco"
  ]
  node [
    id 16
    label "Airport"
  ]
  node [
    id 17
    label "DataCentre-2"
  ]
  node [
    id 18
    label "Hospital"
  ]
  node [
    id 19
    label "Observatory"
  ]
  node [
    id 20
    label "University"
  ]
  node [
    id 21
    label "Lab"
  ]
  node [
    id 22
    label "Campus-East"
  ]
  edge [
    source 0
    target 1
    length_km 9.0
  ]
  edge [
    source 0
    target 9
    length_km 12.0
  ]
  edge [
    source 0
    target 4
    length_km 16.0
  ]
  edge [
    source 0
    target 10
    length_km 3.0
  ]
  edge [
    source 0
    target 11
    length_km 4.0
  ]
  edge [
    source 1
    target 2
    length_km 11.0
  ]
  edge [
    source 1
    target 12
    length_km 5.0
  ]
  edge [
    source 2
    target 3
    length_km 8.0
  ]
  edge [
    source 2
    target 6
    length_km 18.0
  ]
  edge [
    source 2
    target 13
    length_km 7.0
  ]
  edge [
    source 3
    target 4
    length_km 12.0
  ]
  edge [
    source 3
    target 14
    length_km 6.0
  ]
  edge [
    source 4
    target 5
    length_km 10.0
  ]
  edge [
    source 4
    target 15
    length_km 3.0
  ]
  edge [
    source 5
    target 6
    length_km 13.0
  ]
  edge [
    source 5
    target 16
    length_km 15.0
  ]
  edge [
    source 6
    target 7
    length_km 9.0
  ]
  edge [
    source 6
    target 17
    length_km 9.0
  ]
  edge [
    source 7
    target 8
    length_km 11.0
  ]
  edge [
    source 7
    target 18
    length_km 5.0
  ]
  edge [
    source 8
    target 9
    length_km 10.0
  ]
  edge [
    source 8
    target 19
    length_km 12.0
  ]
  edge [
    source 9
    target 20
    length_km 6.0
  ]
  edge [
    source 14
    target 22
    length_km 5.0
  ]
  edge [
    source 20
    target 21
    length_km 4.0
  ]
]
