@problemName toy
@timeStamps false
@missing false
@univariate true
@equalLength true
@seriesLength 4
@classLabel true a b
@data
1,2,3,4:a
5,6,7:b
