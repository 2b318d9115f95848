@problemName toy
@timeStamps false
@missing false
@univariate true
@equalLength true
@seriesLength 4
@classLabel true a b
@data
