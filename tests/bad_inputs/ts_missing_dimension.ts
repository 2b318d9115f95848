@problemName toy
@missing true
@dimensions 2
@equalLength true
@classLabel true a b
@data
1,2,3:4,?,6:a
1,2,3:?,?,?:b
